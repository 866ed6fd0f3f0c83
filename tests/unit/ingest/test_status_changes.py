"""Which status changes ingest logs: the status messages that change what it knew of the
node, and the silences between a node's readings."""

from __future__ import annotations

from vpp.models import NodeStatus
from vpp.store.live_state import LiveReading, StatusUpdate
from vpp.store.status_log import change_id, changes, silences

ON, OFF = NodeStatus.ONLINE, NodeStatus.OFFLINE


def test_only_changes_are_logged_each_against_the_one_before_it() -> None:
    known = {"a": ON, "b": OFF, "c": None}
    updates = [
        StatusUpdate("a", ON, 1),  # a retained copy delivered again: nothing new
        StatusUpdate("b", ON, 2),  # back
        StatusUpdate("c", OFF, 3),  # nothing known of it before
        StatusUpdate("b", OFF, 4),  # gone again, in the same batch
        StatusUpdate("b", OFF, 5),  # and its will once more
        StatusUpdate("d", ON, 6),  # not even asked about
    ]
    assert [(u.dc_id, u.status, u.at_ms) for u in changes(known, updates)] == [
        ("b", ON, 2),
        ("c", OFF, 3),
        ("b", OFF, 4),
        ("d", ON, 6),
    ]


def test_a_change_is_named_by_node_status_and_time() -> None:
    assert change_id(StatusUpdate("n-1", OFF, 1_700_000_000_123)) == "n-1:offline:1700000000123"


def _readings(*stamps: tuple[str, int]) -> list[LiveReading]:
    return [LiveReading(node, ts, b"{}") for node, ts in stamps]


def test_a_gap_longer_than_the_silence_is_an_offline_and_an_online() -> None:
    latest = {"a": 100_000, "b": 100_000, "c": 100_000}
    batch = _readings(
        ("a", 130_001),  # 30.001 s after its last: silent from 130,000 to here
        ("b", 130_000),  # exactly the silence: still online
        ("c", 104_000),  # an ordinary next reading
        ("new", 999_000),  # first ever: nothing before it to be silent after
    )
    assert silences(latest, batch, offline_after_s=30.0) == [
        StatusUpdate("a", OFF, 130_000),
        StatusUpdate("a", ON, 130_001),
    ]


def test_a_batch_is_read_in_timestamp_order_and_replays_end_nothing() -> None:
    latest = {"a": 100_000}
    # Out of order within the batch: 105 and 110 follow 100 closely; 200 is a silence
    # after 110, not after 100. A replay of an old reading (50) after them ends nothing.
    batch = _readings(("a", 200_000), ("a", 110_000), ("a", 105_000), ("a", 50_000))
    assert silences(latest, batch, offline_after_s=30.0) == [
        StatusUpdate("a", OFF, 140_000),
        StatusUpdate("a", ON, 200_000),
    ]
    # A node silent twice within one batch (a buffer replayed after a long outage).
    twice = _readings(("b", 40_000), ("b", 45_000), ("b", 50_000), ("b", 130_000))
    assert [(u.status, u.at_ms) for u in silences({"b": 0}, twice, 30.0)] == [
        (OFF, 30_000),
        (ON, 40_000),
        (OFF, 80_000),
        (ON, 130_000),
    ]


def test_readings_that_arrive_late_but_without_a_gap_end_no_silence() -> None:
    """A broker or an edge buffer held them through an outage of the platform: received
    minutes late, stamped 5 s apart."""
    latest = {"a": 100_000}
    batch = _readings(*(("a", 100_000 + 5_000 * k) for k in range(1, 60)))
    assert silences(latest, batch, offline_after_s=30.0) == []
