"""The dispatch's activities: all the I/O its workflows need, and no business state.

`DispatchActivities` takes its clients in `__init__` (interfaces from `ports`, so this
module imports no I/O library and workflow code may import it); the worker registers the
bound methods. Every method is idempotent, because Temporal may run it again: commands
are resent under the same id (the node answers from its memory), log entries are keyed by
dispatch and node, and progress messages carry state, not increments.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from vpp.bus.topics import NodeChannel, node_topic
from vpp.dispatch.ids import command_id
from vpp.dispatch.measure import baseline_start, measure_response
from vpp.dispatch.models import (
    DispatchProgress,
    DispatchRecordInput,
    MeasureInput,
    MeasureResult,
    NodeMeasurement,
    RecordNodesInput,
    ResolvedTargets,
    ResolveInput,
    SendInput,
    SendResult,
    StatusCounts,
)
from vpp.dispatch.ports import CommandPublisher, DispatchStore, OutgoingCommand, ProgressSink
from vpp.dispatch.resolve import resolve
from vpp.models import Command

# The error type of a dispatch that is impossible as asked; its details: the problems.
DISPATCH_REFUSED = "DispatchRefused"
# Commands handed to the publisher per call.
PUBLISH_CHUNK = 500


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background while the body runs, if the call asked for heartbeats:
    a worker that dies mid-activity is then noticed within the heartbeat timeout."""
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        yield
        return

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(timeout.total_seconds() / 3)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class DispatchActivities:
    def __init__(
        self,
        publisher: CommandPublisher,
        store: DispatchStore,
        progress: ProgressSink,
        *,
        topic_prefix: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publisher = publisher
        self._store = store
        self._progress = progress
        self._prefix = topic_prefix
        self._now = clock

    def all(self) -> list[Callable[..., Any]]:
        """The bound activity methods, for the worker."""
        return [
            self.resolve_targets,
            self.record_dispatch,
            self.send_commands,
            self.publish_progress,
            self.record_nodes,
            self.measure_responses,
        ]

    @activity.defn(name="dispatch.resolve_targets")
    async def resolve_targets(self, inp: ResolveInput) -> ResolvedTargets:
        """The node ids to command; a non-retryable `DispatchRefused` if impossible."""
        wanted = None if inp.targets == "all" else inp.targets
        registered = await self._store.registered_nodes(wanted)
        resolution = resolve(inp.targets, registered, inp.action, inp.params)
        if resolution.problems:
            raise ApplicationError(
                "dispatch refused: " + "; ".join(resolution.problems[:3]),
                resolution.problems,
                type=DISPATCH_REFUSED,
                non_retryable=True,
            )
        return ResolvedTargets(node_ids=resolution.node_ids, notes=resolution.notes)

    @activity.defn(name="dispatch.record_dispatch")
    async def record_dispatch(self, inp: DispatchRecordInput) -> None:
        """Write the `dispatches` document and publish the dispatch's status."""
        now = self._now()
        await self._store.save_dispatch(inp, now)
        if inp.counts is not None or inp.status.final:
            await self._progress.publish(
                DispatchProgress(
                    dispatch_id=inp.spec.dispatch_id,
                    at=now,
                    status=inp.status,
                    counts=inp.counts or StatusCounts(),
                )
            )

    @activity.defn(name="dispatch.send_commands")
    async def send_commands(self, inp: SendInput) -> SendResult:
        """Publish each node's command at QoS 1 and return once the broker has them all."""
        spec = inp.spec
        commands = [
            OutgoingCommand(
                node_topic(self._prefix, node_id, NodeChannel.CMD),
                Command(
                    command_id=command_id(spec.dispatch_id, inp.shard, node_id),
                    dispatch_id=spec.dispatch_id,
                    action=spec.action,
                    params=spec.params,
                    expires_at=spec.deadline,
                )
                .model_dump_json()
                .encode(),
            )
            for node_id in inp.node_ids
        ]
        async with heartbeating():
            for start in range(0, len(commands), PUBLISH_CHUNK):
                await self._publisher.publish(commands[start : start + PUBLISH_CHUNK])
        return SendResult(sent=inp.node_ids)

    @activity.defn(name="dispatch.publish_progress")
    async def publish_progress(self, progress: DispatchProgress) -> None:
        """Publish a shard's node changes on the dispatch's live channel (run as a local
        activity: the live view should wait for neither the task queue nor the store)."""
        await self._progress.publish(progress)

    @activity.defn(name="dispatch.record_nodes")
    async def record_nodes(self, inp: RecordNodesInput) -> None:
        """Write the shard's changes to the log (`dispatch_log`, and its counts)."""
        async with heartbeating():
            await self._store.save_nodes(inp, self._now())

    @activity.defn(name="dispatch.measure_responses")
    async def measure_responses(self, inp: MeasureInput) -> MeasureResult:
        """Compare what completed nodes delivered (their telemetry) with the command,
        once the last readings of the command had time to reach the store. The shard
        writes the results with the nodes' final state."""
        spec = inp.spec
        ready_at = max(t.end for t in inp.nodes) + timedelta(seconds=inp.settle_s)
        settle = (ready_at - self._now()).total_seconds()
        async with heartbeating():
            if settle > 0:
                await asyncio.sleep(settle)
            start = min(baseline_start(t.start, t.end) for t in inp.nodes)
            end = max(t.end for t in inp.nodes)
            readings = await self._store.telemetry([t.dc_id for t in inp.nodes], start, end)
        results = []
        for t in inp.nodes:
            m = measure_response(
                spec.action, spec.params.kw, t.start, t.end, readings.get(t.dc_id, [])
            )
            results.append(
                NodeMeasurement(
                    dc_id=t.dc_id,
                    measured_kw=m.measured_kw,
                    ratio=m.ratio,
                    note=m.note,
                    samples=m.samples,
                )
            )
        return MeasureResult(nodes=results)


def refusal_problems(details: Sequence[Any]) -> list[str]:
    """The problems carried by a `DispatchRefused` error's details."""
    if details and isinstance(details[0], list):
        return [str(p) for p in details[0]]
    return []
