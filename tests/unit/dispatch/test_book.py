"""The rules of a node's command in a shard, with the workflow's clock in the test's hand."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.unit.dispatch.conftest import at
from vpp.dispatch.book import ShardBook
from vpp.dispatch.models import (
    CancelRequest,
    DispatchSpec,
    DispatchTiming,
    NodeAck,
    NodeMeasurement,
    NodeStatus,
    StatusCounts,
)
from vpp.models import AckStatus


def ack(
    book: ShardBook, node: str, status: AckStatus, when: datetime, reason: str | None = None
) -> NodeAck:
    return NodeAck(
        dc_id=node,
        command_id=book.command_id(node),
        status=status,
        reason=reason,
        applied_kw=5.0,
        at=when,
    )


@pytest.fixture
def book(spec: DispatchSpec, timing: DispatchTiming) -> ShardBook:
    book = ShardBook.new(spec, 3, timing, ["a", "b"])
    book.start(at(0))
    return book


def send(book: ShardBook, now: datetime) -> list[str]:
    due = book.due_sends(now)
    book.mark_sending(due, now)
    book.mark_sent(due, now)
    return due


def test_every_node_is_sent_its_command_at_once_under_a_routable_id(book: ShardBook) -> None:
    assert book.command_id("a") == "d1:3:a"
    assert send(book, at(0)) == ["a", "b"]
    assert book.counts() == StatusCounts(sent=2)
    assert [n.attempts for n in book.take_dirty()] == [1, 1]
    assert book.due_sends(at(0.5)) == []


def test_a_node_that_does_not_answer_is_resent_on_a_doubling_wait(book: ShardBook) -> None:
    send(book, at(0))
    sends = []
    for tenth in range(0, 300):
        now = at(tenth / 10)
        if "a" in book.due_sends(now):
            book.mark_sending(["a"], now)
            book.mark_sent(["a"], now)
            sends.append(tenth / 10)
    # 1, 2, 4, 8, then capped at 8 s, and never at or after the deadline (30 s).
    assert sends == [1.0, 3.0, 7.0, 15.0, 23.0]
    assert book.nodes["a"].attempts == 6


def test_an_accepted_node_is_not_resent_until_its_command_is_overdue(book: ShardBook) -> None:
    send(book, at(0))
    assert book.apply_ack(ack(book, "a", AckStatus.ACCEPTED, at(0.2)), at(0.3))
    node = book.nodes["a"]
    assert (node.status, node.accepted_at) == (NodeStatus.ACCEPTED, at(0.3))
    # The command lasts 10 s; with 2 s of slack the node is asked again at 12.3 s.
    assert "a" not in book.due_sends(at(12.2))
    assert "a" in book.due_sends(at(12.3))


def test_completed_and_rejected_are_final_with_the_nodes_reason(book: ShardBook) -> None:
    send(book, at(0))
    book.apply_ack(ack(book, "a", AckStatus.ACCEPTED, at(0.1)), at(0.2))
    book.apply_ack(ack(book, "a", AckStatus.COMPLETED, at(10.1), "limited"), at(10.2))
    book.apply_ack(ack(book, "b", AckStatus.REJECTED, at(0.1), "soc_too_high: 95%"), at(0.2))
    a, b = book.nodes["a"], book.nodes["b"]
    assert (a.status, a.reason, a.finished_at) == (NodeStatus.COMPLETED, "limited", at(10.2))
    assert (b.status, b.reason) == (NodeStatus.REJECTED, "soc_too_high: 95%")
    assert book.all_final
    assert book.due_sends(at(50)) == []
    # Repeats change nothing.
    assert not book.apply_ack(ack(book, "a", AckStatus.ACCEPTED, at(11)), at(11))
    assert not book.apply_ack(ack(book, "b", AckStatus.COMPLETED, at(11)), at(11))
    (target,) = book.take_to_measure()
    assert (target.dc_id, target.start, target.end) == ("a", at(0.1), at(10.1))


def test_a_completion_whose_acceptance_was_lost_completes_the_node(book: ShardBook) -> None:
    send(book, at(0))
    assert book.apply_ack(ack(book, "a", AckStatus.COMPLETED, at(10)), at(10.1))
    assert book.nodes["a"].status is NodeStatus.COMPLETED


def test_acks_for_other_commands_are_ignored(book: ShardBook) -> None:
    send(book, at(0))
    stale = ack(book, "a", AckStatus.ACCEPTED, at(1)).model_copy(update={"command_id": "d0:3:a"})
    stranger = ack(book, "a", AckStatus.ACCEPTED, at(1)).model_copy(update={"dc_id": "zz"})
    assert not book.apply_ack(stale, at(1))
    assert not book.apply_ack(stranger, at(1))
    assert book.counts() == StatusCounts(sent=2)


def test_nodes_expire_at_the_deadline_or_after_their_grace(book: ShardBook) -> None:
    send(book, at(0))
    book.apply_ack(ack(book, "b", AckStatus.ACCEPTED, at(25)), at(25))
    assert book.expire(at(29.9)) == []
    assert book.expire(at(30)) == ["a"]
    assert book.nodes["a"].reason == "no answer by the deadline after 1 sends"
    # b accepted at 25 s: 10 s of command and 20 s of grace.
    assert book.next_wake(include_sends=False) == at(55)
    assert book.expire(at(55)) == ["b"]
    assert book.nodes["b"].reason == "accepted, but no completion report in time"
    assert book.all_final


def test_cancel_stops_sending_and_cancels_only_the_unanswered(book: ShardBook) -> None:
    send(book, at(0))
    book.apply_ack(ack(book, "b", AckStatus.ACCEPTED, at(0.1)), at(0.1))
    assert book.cancel(CancelRequest(requested_by="bob", reason="storm"), at(1)) == ["a"]
    assert book.nodes["a"].reason == "cancelled by bob: storm"
    assert book.nodes["b"].status is NodeStatus.ACCEPTED
    assert book.due_sends(at(20)) == []
    # The accepted node still reports its end; a late answer of a cancelled node is the truth.
    book.apply_ack(ack(book, "b", AckStatus.COMPLETED, at(10)), at(10))
    book.apply_ack(ack(book, "a", AckStatus.COMPLETED, at(10)), at(10))
    assert book.counts() == StatusCounts(completed=2)


def test_next_wake_is_the_earliest_send_or_deadline(book: ShardBook) -> None:
    send(book, at(0))
    assert book.next_wake(include_sends=True) == at(1)
    assert book.next_wake(include_sends=False) == at(30)


def test_a_snapshot_carries_everything_into_the_next_run(
    book: ShardBook, spec: DispatchSpec, timing: DispatchTiming
) -> None:
    send(book, at(0))
    book.apply_ack(ack(book, "a", AckStatus.COMPLETED, at(10)), at(10))
    book.cancel(CancelRequest(requested_by="bob"), at(11))
    state = book.snapshot(runs=2)
    again = ShardBook.restore(spec, 3, timing, state)
    assert again.counts() == book.counts()
    assert again.cancelled
    assert again.has_dirty
    assert [t.dc_id for t in again.take_to_measure()] == ["a"]
    assert state.runs == 2


def test_dirty_nodes_are_taken_once_and_then_known_as_recorded(book: ShardBook) -> None:
    send(book, at(0))
    first = book.take_dirty()
    assert [n.recorded for n in first] == [False, False]
    assert book.take_dirty() == []
    # The live view takes its own copy of the same changes.
    assert [(n.dc_id, n.status) for n in book.take_live()] == [
        ("a", NodeStatus.SENT),
        ("b", NodeStatus.SENT),
    ]
    assert not book.has_live
    book.apply_ack(ack(book, "a", AckStatus.ACCEPTED, at(1)), at(1))
    (again,) = book.take_dirty()
    assert (again.dc_id, again.recorded, again.status) == ("a", True, NodeStatus.ACCEPTED)


def test_a_completed_node_is_logged_with_its_measurement(book: ShardBook) -> None:
    send(book, at(0))
    book.take_dirty()
    book.apply_ack(ack(book, "a", AckStatus.COMPLETED, at(10)), at(10))
    book.apply_ack(ack(book, "b", AckStatus.REJECTED, at(10), "no"), at(10))
    # The rejection goes at once; the completion waits for its measurement.
    assert [n.dc_id for n in book.take_dirty()] == ["b"]
    assert book.log_pending
    assert not book.has_dirty
    assert [t.dc_id for t in book.take_to_measure()] == ["a"]
    book.apply_measurements(
        [NodeMeasurement(dc_id="a", measured_kw=4.9, ratio=0.98, note=None, samples=9)]
    )
    (logged,) = book.take_dirty()
    assert (logged.dc_id, logged.status, logged.measured_ratio) == ("a", NodeStatus.COMPLETED, 0.98)
    assert not book.log_pending


def test_a_failed_measurement_releases_the_node_with_a_note(book: ShardBook) -> None:
    send(book, at(0))
    book.apply_ack(ack(book, "a", AckStatus.COMPLETED, at(10)), at(10))
    book.take_to_measure()
    book.measurement_failed(["a"], "measurement failed: store away")
    (logged,) = [n for n in book.take_dirty() if n.dc_id == "a"]
    assert (logged.measured_ratio, logged.measured_note) == (None, "measurement failed: store away")
