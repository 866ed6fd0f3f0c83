"""A shard's book of its nodes' commands: the rules of a dispatch, with no I/O and no clock.

The shard workflow feeds it acks and the workflow's time and asks it what to send, what
to record and when to wake; the same calls in the same order give the same answers,
which is what a workflow needs to replay. The rules:

- every node is sent its command at once, then resent (same command id) with a growing
  wait until it answers or the deadline passes; then it is `expired`;
- `accepted` stops the resends; if no `completed` follows by the command's end plus
  `completion_slack_s`, the node is asked again (it answers from its memory of the id),
  and it is `expired` at the end plus `completion_grace_s`;
- `completed` and `rejected` are final, with the node's reason;
- a cancel stops every send and makes the nodes that have not answered `cancelled`;
  nodes already applying the command are still awaited (a command cannot be recalled).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from vpp.dispatch.ids import command_id
from vpp.dispatch.models import (
    FINAL_NODE_STATUSES,
    CancelRequest,
    DispatchSpec,
    DispatchTiming,
    MeasureTarget,
    NodeAck,
    NodeCommand,
    NodeMeasurement,
    NodeStatus,
    ShardState,
    StatusCounts,
)
from vpp.models import AckStatus

_UNANSWERED = frozenset({NodeStatus.PENDING, NodeStatus.SENT})


class ShardBook:
    def __init__(
        self,
        spec: DispatchSpec,
        shard: int,
        timing: DispatchTiming,
        nodes: Iterable[NodeCommand],
        *,
        dirty: Iterable[str] = (),
        live: Iterable[str] = (),
        to_measure: Iterable[str] = (),
        cancel: CancelRequest | None = None,
    ) -> None:
        self.spec = spec
        self.shard = shard
        self.timing = timing
        self.nodes: dict[str, NodeCommand] = {n.dc_id: n for n in nodes}
        # Nodes changed since they were last written to the log, and since they were last
        # published live (ordered sets).
        self._dirty: dict[str, None] = dict.fromkeys(dirty)
        self._live: dict[str, None] = dict.fromkeys(live)
        self._to_measure: dict[str, None] = dict.fromkeys(to_measure)
        # Completed nodes whose measurement is not in yet: their final write waits for it.
        self._awaiting: set[str] = set(self._to_measure)
        self.cancel_request = cancel
        self._command_ids = {
            dc_id: command_id(spec.dispatch_id, shard, dc_id) for dc_id in self.nodes
        }

    @classmethod
    def new(
        cls, spec: DispatchSpec, shard: int, timing: DispatchTiming, node_ids: Iterable[str]
    ) -> ShardBook:
        return cls(spec, shard, timing, (NodeCommand(dc_id=n) for n in node_ids))

    @classmethod
    def restore(
        cls, spec: DispatchSpec, shard: int, timing: DispatchTiming, state: ShardState
    ) -> ShardBook:
        return cls(
            spec,
            shard,
            timing,
            state.nodes,
            dirty=state.dirty,
            live=state.live,
            to_measure=state.to_measure,
            cancel=state.cancel,
        )

    def snapshot(self, runs: int) -> ShardState:
        return ShardState(
            nodes=[n.model_copy() for n in self.nodes.values()],
            dirty=list(self._dirty),
            live=list(self._live),
            to_measure=list(self._to_measure),
            cancel=self.cancel_request,
            runs=runs,
        )

    # -- what is what ------------------------------------------------------------------

    def command_id(self, dc_id: str) -> str:
        return self._command_ids[dc_id]

    @property
    def cancelled(self) -> bool:
        return self.cancel_request is not None

    @property
    def all_final(self) -> bool:
        return all(n.status in FINAL_NODE_STATUSES for n in self.nodes.values())

    def counts(self) -> StatusCounts:
        return StatusCounts.of([n.status for n in self.nodes.values()])

    @property
    def has_dirty(self) -> bool:
        """Changes ready for the log (not held for a measurement)."""
        return any(dc_id not in self._awaiting for dc_id in self._dirty)

    @property
    def log_pending(self) -> bool:
        """Changes not yet in the log, held or not."""
        return bool(self._dirty)

    @property
    def has_live(self) -> bool:
        return bool(self._live)

    @property
    def has_to_measure(self) -> bool:
        return bool(self._to_measure)

    def _end_of(self, node: NodeCommand) -> datetime:
        """When an accepted node's command should be over."""
        assert node.accepted_at is not None
        return node.accepted_at + timedelta(seconds=self.spec.params.duration_s)

    def completion_deadline(self, node: NodeCommand) -> datetime:
        return self._end_of(node) + timedelta(seconds=self.timing.completion_grace_s)

    def _backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th send."""
        t = self.timing
        wait = t.resend_initial_s * 2 ** max(attempts - 1, 0)
        return timedelta(seconds=min(wait, t.resend_max_s))

    def _touch(self, node: NodeCommand) -> None:
        self._dirty[node.dc_id] = None
        self._live[node.dc_id] = None

    # -- sending -------------------------------------------------------------------------

    def due_sends(self, now: datetime) -> list[str]:
        """Nodes to (re)send to now: unanswered ones whose wait is over, before the
        deadline; accepted ones overdue for a completion report, before their grace ends."""
        if self.cancelled:
            return []
        due = []
        for node in self.nodes.values():
            if node.next_send_at is None or node.next_send_at > now:
                continue
            if node.status in _UNANSWERED:
                open_until = self.spec.deadline
            elif node.status is NodeStatus.ACCEPTED:
                open_until = self.completion_deadline(node)
            else:
                continue
            if now < open_until:
                due.append(node.dc_id)
        return due

    def start(self, now: datetime) -> None:
        """Make every node due at once (the first send)."""
        for node in self.nodes.values():
            if node.status is NodeStatus.PENDING and node.attempts == 0:
                node.next_send_at = now

    def mark_sending(self, dc_ids: Iterable[str], now: datetime) -> None:
        """A send to these nodes is under way: count it and schedule the next one."""
        for dc_id in dc_ids:
            node = self.nodes[dc_id]
            node.attempts += 1
            node.next_send_at = now + self._backoff(node.attempts)

    def mark_sent(self, dc_ids: Iterable[str], now: datetime) -> None:
        """The broker acknowledged these nodes' commands: a first send makes a pending
        node `sent`; a resend is recorded for its attempt count."""
        for dc_id in dc_ids:
            node = self.nodes[dc_id]
            if node.sent_at is None:
                node.sent_at = now
            if node.status is NodeStatus.PENDING:
                node.status = NodeStatus.SENT
                self._touch(node)
            elif node.attempts > 1 and node.status not in FINAL_NODE_STATUSES:
                self._touch(node)

    # -- answers ---------------------------------------------------------------------------

    def apply_ack(self, ack: NodeAck, now: datetime) -> bool:
        """Apply one ack; False if it changes nothing (a repeat, a stale or foreign id)."""
        node = self.nodes.get(ack.dc_id)
        if node is None or ack.command_id != self._command_ids[ack.dc_id]:
            return False
        status = node.status
        if ack.status is AckStatus.ACCEPTED:
            if status not in _UNANSWERED:
                return False
            node.status = NodeStatus.ACCEPTED
            node.accepted_at = now
            node.node_accepted_at = ack.at
            node.applied_kw = ack.applied_kw
            node.next_send_at = (
                None
                if self.cancelled
                else self._end_of(node) + timedelta(seconds=self.timing.completion_slack_s)
            )
        else:
            # A cancelled node that answers anyway had the command before the cancel:
            # what it reports is the truth. Other final statuses stay.
            if status in FINAL_NODE_STATUSES and status is not NodeStatus.CANCELLED:
                return False
            completed = ack.status is AckStatus.COMPLETED
            final = NodeStatus.COMPLETED if completed else NodeStatus.REJECTED
            node.status = final
            node.finished_at = now
            node.reason = ack.reason
            node.next_send_at = None
            if final is NodeStatus.COMPLETED:
                if node.accepted_at is None:
                    node.accepted_at = now
                if node.node_accepted_at is None:
                    node.node_accepted_at = ack.at
                node.node_completed_at = ack.at
                node.applied_kw = ack.applied_kw
                self._to_measure[node.dc_id] = None
                self._awaiting.add(node.dc_id)
        self._touch(node)
        return True

    def expire(self, now: datetime) -> list[str]:
        """Give up on nodes past their deadline; returns them."""
        expired = []
        for node in self.nodes.values():
            if node.status in _UNANSWERED and now >= self.spec.deadline:
                node.reason = f"no answer by the deadline after {node.attempts} sends"
            elif node.status is NodeStatus.ACCEPTED and now >= self.completion_deadline(node):
                node.reason = "accepted, but no completion report in time"
            else:
                continue
            node.status = NodeStatus.EXPIRED
            node.finished_at = now
            node.next_send_at = None
            self._touch(node)
            expired.append(node.dc_id)
        return expired

    def cancel(self, request: CancelRequest, now: datetime) -> list[str]:
        """Stop sending; nodes that have not answered are cancelled. Returns them."""
        if self.cancel_request is None:
            self.cancel_request = request
        cancelled = []
        why = f"cancelled by {request.requested_by}" + (
            f": {request.reason}" if request.reason else ""
        )
        for node in self.nodes.values():
            node.next_send_at = None
            if node.status in _UNANSWERED:
                node.status = NodeStatus.CANCELLED
                node.finished_at = now
                node.reason = why
                self._touch(node)
                cancelled.append(node.dc_id)
        return cancelled

    # -- time ----------------------------------------------------------------------------

    def next_wake(self, *, include_sends: bool) -> datetime | None:
        """The next moment something is due: a send (if the caller can send now), a
        deadline or a completion deadline."""
        moments: list[datetime] = []
        for node in self.nodes.values():
            if node.status in _UNANSWERED:
                moments.append(self.spec.deadline)
            elif node.status is NodeStatus.ACCEPTED:
                moments.append(self.completion_deadline(node))
            else:
                continue
            if include_sends and node.next_send_at is not None and not self.cancelled:
                moments.append(node.next_send_at)
        return min(moments) if moments else None

    # -- what to write -------------------------------------------------------------------

    def take_dirty(self) -> list[NodeCommand]:
        """Copies of the nodes changed since the last call and ready for the log (a
        completed node waits for its measurement), marked recorded."""
        changed = []
        for dc_id in [d for d in self._dirty if d not in self._awaiting]:
            node = self.nodes[dc_id]
            changed.append(node.model_copy())
            node.recorded = True
            del self._dirty[dc_id]
        return changed

    def apply_measurements(self, results: Iterable[NodeMeasurement]) -> None:
        for result in results:
            node = self.nodes.get(result.dc_id)
            if node is None:
                continue
            node.measured_kw = result.measured_kw
            node.measured_ratio = result.ratio
            node.measured_note = result.note
            node.measured_samples = result.samples
            self._awaiting.discard(result.dc_id)
            self._dirty[result.dc_id] = None

    def measurement_failed(self, dc_ids: Iterable[str], why: str) -> None:
        """Release nodes whose measurement could not be made; the log says why."""
        self.apply_measurements(
            NodeMeasurement(dc_id=d, measured_kw=None, ratio=None, note=why, samples=0)
            for d in dc_ids
        )

    def take_live(self) -> list[NodeCommand]:
        """Copies of the nodes changed since the last call, to publish live."""
        changed = [self.nodes[dc_id].model_copy() for dc_id in self._live]
        self._live.clear()
        return changed

    def take_to_measure(self) -> list[MeasureTarget]:
        targets = []
        for dc_id in self._to_measure:
            node = self.nodes[dc_id]
            if node.node_accepted_at is None or node.node_completed_at is None:
                continue
            targets.append(
                MeasureTarget(
                    dc_id=dc_id,
                    command_id=self._command_ids[dc_id],
                    start=node.node_accepted_at,
                    end=node.node_completed_at,
                )
            )
        self._to_measure.clear()
        return targets
