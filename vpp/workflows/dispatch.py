"""The dispatch workflows: `DispatchWorkflow` (one per request, id `dispatch-<id>`) and
`DispatchShardWorkflow` (one per slice of at most `shard_size` nodes, its child).

The parent checks the targets (refusing an impossible request before anything is sent),
answers the starter's `accepted` update, starts the shards, forwards a cancel to them and
writes the outcome. A shard sends its nodes' commands, takes their acks as batched
signals from the ack relay, resends on a growing wait until the deadline, and continues
as new before its history grows long. Each change of a node's command is published live
at once (Redis, a local activity) and written to `dispatch_log` (changes that come
within `log_interval_s` share one write). The rules of a node's command are
`vpp.dispatch.book`; this module only drives them.

No I/O here: activities do it. What this file imports goes through
`imports_passed_through()` (models and the activity class, whose module imports no I/O
library either).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from vpp import search_attributes as sa
    from vpp.activities.dispatch import (
        DISPATCH_REFUSED,
        DispatchActivities,
        refusal_problems,
    )
    from vpp.dispatch.book import ShardBook
    from vpp.dispatch.ids import shard_workflow_id
    from vpp.dispatch.models import (
        Acceptance,
        AckBatch,
        AwaitAcceptance,
        CancelRequest,
        DispatchInput,
        DispatchProgress,
        DispatchRecordInput,
        DispatchResult,
        DispatchSpec,
        DispatchStatus,
        MeasureInput,
        MeasureTarget,
        NodeAck,
        NodeProgress,
        RecordNodesInput,
        Refusal,
        ResolveInput,
        SendInput,
        ShardInput,
        ShardResult,
        StatusCounts,
        overall_status,
        since_ms,
    )

# -- timeouts and retry policies ------------------------------------------------------------

RESOLVE_TIMEOUT = timedelta(seconds=30)
RESOLVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=10,
    non_retryable_error_types=[DISPATCH_REFUSED],
)
# The log must be written: retried until it is (a store outage stalls the log, not the
# dispatch, whose state lives in the workflow).
RECORD_TIMEOUT = timedelta(minutes=2)
RECORD_HEARTBEAT = timedelta(seconds=5)
RECORD_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,
)
# Live progress is best effort (the log is the record): a short local activity.
PROGRESS_TIMEOUT = timedelta(seconds=5)
PROGRESS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)
# A failed send is not retried for long: the shard's own resend schedule takes over.
SEND_TIMEOUT = timedelta(minutes=1)
SEND_HEARTBEAT = timedelta(seconds=5)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=300),
    maximum_interval=timedelta(seconds=3),
    maximum_attempts=3,
)
MEASURE_TIMEOUT = timedelta(minutes=10)
MEASURE_HEARTBEAT = timedelta(seconds=10)
MEASURE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)

# A dispatch lists its nodes in the `VppNodes` search attribute up to this many (the
# server limits one attribute's size; larger dispatches are found by their other keys).
SEARCHABLE_NODES_MAX = 100


def summary_text(
    spec: DispatchSpec, status: DispatchStatus, node_count: int | None, counts: StatusCounts | None
) -> str:
    kw = "" if spec.action.value == "hold" else f" {spec.params.kw:g} kW"
    nodes = "" if node_count is None else f" to {node_count} nodes"
    text = (
        f"{spec.action.value}{kw} for {spec.params.duration_s} s{nodes}"
        f" by {spec.issued_by}: {status.value}"
    )
    if counts is not None and counts.total:
        parts = [f"{v} {k}" for k, v in counts.model_dump().items() if v]
        text += " (" + ", ".join(parts) + ")"
    return text


def dispatch_search_attributes(
    spec: DispatchSpec, status: DispatchStatus, node_ids: list[str] | None = None
) -> TypedSearchAttributes:
    """The attributes a dispatch (or shard) starts with."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.DISPATCH_ACTION, spec.action.value),
        SearchAttributePair(sa.DISPATCH_ISSUER, spec.issued_by),
        SearchAttributePair(sa.DISPATCH_STATUS, status.value),
    ]
    if node_ids is not None:
        pairs.append(SearchAttributePair(sa.DISPATCH_NODE_COUNT, len(node_ids)))
        if len(node_ids) <= SEARCHABLE_NODES_MAX:
            pairs.append(SearchAttributePair(sa.DISPATCH_NODES, node_ids))
    return TypedSearchAttributes(pairs)


@workflow.defn
class DispatchShardWorkflow:
    def __init__(self) -> None:
        self._inbox: list[NodeAck] = []
        self._cancel: CancelRequest | None = None
        self._wake = False
        self._book: ShardBook | None = None
        self._send_task: asyncio.Task[None] | None = None
        self._record_task: asyncio.Task[None] | None = None
        self._measure_task: asyncio.Task[None] | None = None
        self._next_record_at = datetime.min.replace(tzinfo=UTC)

    @workflow.signal
    def acks(self, batch: AckBatch) -> None:
        self._inbox.extend(batch.acks)
        self._wake = True

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request
            self._wake = True

    @workflow.query
    def counts(self) -> StatusCounts:
        return StatusCounts() if self._book is None else self._book.counts()

    @workflow.run
    async def run(self, inp: ShardInput) -> ShardResult:
        now = workflow.now()
        if inp.carried is not None:
            book = ShardBook.restore(inp.spec, inp.shard, inp.timing, inp.carried)
            runs = inp.carried.runs
        else:
            book = ShardBook.new(inp.spec, inp.shard, inp.timing, inp.node_ids)
            book.start(now)
            runs = 1
        self._book = book
        # The first write waits one interval too, so a node's send and answer share it.
        self._next_record_at = now + timedelta(seconds=inp.timing.log_interval_s)
        if self._cancel is None:
            self._cancel = inp.cancel or book.cancel_request
        while True:
            self._wake = False
            now = workflow.now()
            if self._cancel is not None and not book.cancelled:
                book.cancel(self._cancel, now)
            self._apply_inbox(book)
            book.expire(now)
            continuing = self._continue_wanted(inp)
            if not continuing:
                self._start_work(inp, book)
            if book.has_live:
                await self._publish_live(inp, book)
            sending, recording, measuring = (
                _busy(self._send_task),
                _busy(self._record_task),
                _busy(self._measure_task),
            )
            if not (sending or recording or measuring):
                if book.all_final and not book.log_pending and not book.has_to_measure:
                    break
                if continuing:
                    # Nothing in flight: what the inbox holds goes into the carried state.
                    self._apply_inbox(book)
                    workflow.continue_as_new(
                        inp.model_copy(update={"carried": book.snapshot(runs + 1)})
                    )
            wake = book.next_wake(include_sends=not sending and not continuing)
            if book.has_dirty and not recording and not continuing:
                wake = self._next_record_at if wake is None else min(wake, self._next_record_at)
            timeout = None if wake is None else max((wake - now).total_seconds(), 0.001)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._wake, timeout=timeout)
        counts = book.counts()
        workflow.upsert_search_attributes(
            [
                sa.DISPATCH_STATUS.value_set(
                    overall_status(counts, cancel_requested=book.cancelled).value
                )
            ]
        )
        return ShardResult(shard=inp.shard, counts=counts, runs=runs)

    def _apply_inbox(self, book: ShardBook) -> None:
        inbox, self._inbox = self._inbox, []
        now = workflow.now()
        for ack in inbox:
            book.apply_ack(ack, now)

    def _continue_wanted(self, inp: ShardInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= inp.max_history_events
        )

    def _start_work(self, inp: ShardInput, book: ShardBook) -> None:
        """Start a send, a record and a measurement, each if none is in flight and there
        is something to do; what comes meanwhile waits for the next one (batching)."""
        now = workflow.now()
        if not _busy(self._send_task):
            due = book.due_sends(now)
            if due:
                book.mark_sending(due, now)
                self._send_task = asyncio.create_task(self._send(inp, book, due))
        may_record = now >= self._next_record_at or book.all_final
        if not _busy(self._record_task) and book.has_dirty and may_record:
            self._next_record_at = now + timedelta(seconds=inp.timing.log_interval_s)
            nodes = book.take_dirty()
            record = RecordNodesInput(
                spec=inp.spec,
                shard=inp.shard,
                nodes=nodes,
                counts=book.counts(),
                done=book.all_final,
            )
            self._record_task = asyncio.create_task(self._record(record))
        if not _busy(self._measure_task):
            targets = book.take_to_measure()
            if targets:
                self._measure_task = asyncio.create_task(self._measure(inp, book, targets))

    async def _publish_live(self, inp: ShardInput, book: ShardBook) -> None:
        """Publish the nodes changed since the last time (a local activity: in this task,
        without a round trip through the task queue). Best effort: the log is the record."""
        created = inp.spec.created_at
        progress = DispatchProgress(
            dispatch_id=inp.spec.dispatch_id,
            at=workflow.now(),
            shard=inp.shard,
            counts=book.counts(),
            nodes=[
                NodeProgress(
                    dc_id=n.dc_id,
                    status=n.status,
                    attempts=n.attempts,
                    reason=n.reason,
                    latency_ms=since_ms(created, n.status_at),
                )
                for n in book.take_live()
            ],
        )
        try:
            await workflow.execute_local_activity_method(
                DispatchActivities.publish_progress,
                progress,
                start_to_close_timeout=PROGRESS_TIMEOUT,
                retry_policy=PROGRESS_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("live progress of %d nodes lost: %s", len(progress.nodes), err)

    async def _send(self, inp: ShardInput, book: ShardBook, node_ids: list[str]) -> None:
        try:
            result = await workflow.execute_activity_method(
                DispatchActivities.send_commands,
                SendInput(spec=inp.spec, shard=inp.shard, node_ids=node_ids),
                start_to_close_timeout=SEND_TIMEOUT,
                heartbeat_timeout=SEND_HEARTBEAT,
                retry_policy=SEND_RETRY,
            )
            book.mark_sent(result.sent, workflow.now())
        except ActivityError as err:
            workflow.logger.warning(
                "send to %d nodes failed (%s); they are resent on schedule", len(node_ids), err
            )
        finally:
            self._wake = True

    async def _record(self, record: RecordNodesInput) -> None:
        try:
            await workflow.execute_activity_method(
                DispatchActivities.record_nodes,
                record,
                start_to_close_timeout=RECORD_TIMEOUT,
                heartbeat_timeout=RECORD_HEARTBEAT,
                retry_policy=RECORD_RETRY,
            )
        except ActivityError as err:
            workflow.logger.error("recording %d nodes failed: %s", len(record.nodes), err)
        finally:
            self._wake = True

    async def _measure(
        self, inp: ShardInput, book: ShardBook, targets: list[MeasureTarget]
    ) -> None:
        try:
            result = await workflow.execute_activity_method(
                DispatchActivities.measure_responses,
                MeasureInput(spec=inp.spec, nodes=targets, settle_s=inp.timing.measure_settle_s),
                start_to_close_timeout=MEASURE_TIMEOUT,
                heartbeat_timeout=MEASURE_HEARTBEAT,
                retry_policy=MEASURE_RETRY,
            )
            book.apply_measurements(result.nodes)
        except ActivityError as err:
            workflow.logger.warning("measuring %d nodes failed: %s", len(targets), err)
            book.measurement_failed([t.dc_id for t in targets], f"measurement failed: {err.cause}")
        finally:
            self._wake = True


def _busy(task: asyncio.Task[None] | None) -> bool:
    return task is not None and not task.done()


@workflow.defn
class DispatchWorkflow:
    def __init__(self) -> None:
        self._status = DispatchStatus.RESOLVING
        self._acceptance: Acceptance | None = None
        self._refusal: Refusal | None = None
        self._cancel: CancelRequest | None = None

    @workflow.update
    async def accepted(self, _: AwaitAcceptance) -> Acceptance:
        """Returns once the targets are checked: the dispatch's size, or its refusal."""
        await workflow.wait_condition(
            lambda: self._acceptance is not None or self._refusal is not None
        )
        if self._refusal is not None:
            raise ApplicationError(
                self._refusal.message,
                self._refusal.problems,
                type=DISPATCH_REFUSED,
                non_retryable=True,
            )
        assert self._acceptance is not None
        return self._acceptance

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        if self._cancel is None:
            self._cancel = request

    @workflow.query
    def status(self) -> DispatchStatus:
        return self._status

    @workflow.run
    async def run(self, inp: DispatchInput) -> DispatchResult:
        spec = inp.spec
        try:
            # A local activity: a registry read, done within this workflow task, so the
            # shards start one task-queue round trip sooner.
            resolved = await workflow.execute_local_activity_method(
                DispatchActivities.resolve_targets,
                ResolveInput(targets=inp.targets, action=spec.action, params=spec.params),
                start_to_close_timeout=RESOLVE_TIMEOUT,
                retry_policy=RESOLVE_RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            # A local activity's failure may come as its own error, not wrapped.
            cause = err.cause if isinstance(err, ActivityError) else err
            if not (isinstance(cause, ApplicationError) and cause.type == DISPATCH_REFUSED):
                raise
            refusal = await self._refuse(inp, cause)
            raise ApplicationError(
                refusal.message, refusal.problems, type=DISPATCH_REFUSED, non_retryable=True
            ) from None
        node_ids = resolved.node_ids
        shards = [node_ids[i : i + inp.shard_size] for i in range(0, len(node_ids), inp.shard_size)]
        self._set_status(DispatchStatus.RUNNING, spec, len(node_ids), None)
        workflow.upsert_search_attributes(
            [
                sa.DISPATCH_NODE_COUNT.value_set(len(node_ids)),
                *(
                    [sa.DISPATCH_NODES.value_set(node_ids)]
                    if len(node_ids) <= SEARCHABLE_NODES_MAX
                    else []
                ),
            ]
        )
        # The shards start while the `dispatches` document is written; the starter's
        # update returns once it is, so the dispatch can be read as soon as it is known.
        first_record = asyncio.create_task(
            self._record(
                inp,
                DispatchStatus.RUNNING,
                targets=inp.targets,
                node_count=len(node_ids),
                shard_count=len(shards),
                notes=resolved.notes,
            )
        )
        starting = asyncio.gather(
            *(
                workflow.start_child_workflow(
                    DispatchShardWorkflow.run,
                    ShardInput(
                        spec=spec,
                        shard=k,
                        node_ids=ids,
                        timing=inp.timing,
                        max_history_events=inp.max_shard_events,
                        cancel=self._cancel,
                    ),
                    id=shard_workflow_id(spec.dispatch_id, k),
                    search_attributes=dispatch_search_attributes(spec, DispatchStatus.RUNNING, ids),
                )
                for k, ids in enumerate(shards)
            )
        )
        await first_record
        self._acceptance = Acceptance(
            dispatch_id=spec.dispatch_id,
            node_count=len(node_ids),
            shard_count=len(shards),
            created_at=spec.created_at,
            deadline=spec.deadline,
        )
        handles = await starting
        forward = asyncio.create_task(self._forward_cancel(handles))
        outcomes = await asyncio.gather(*handles, return_exceptions=True)
        forward.cancel()
        counts = StatusCounts()
        failures = []
        for k, outcome in enumerate(outcomes):
            if isinstance(outcome, ShardResult):
                counts = counts.add(outcome.counts)
            else:
                failures.append(f"shard {k} ({len(shards[k])} nodes) failed: {outcome}")
        status = overall_status(counts, cancel_requested=self._cancel is not None)
        if failures:
            status = DispatchStatus.PARTIAL if counts.completed else DispatchStatus.FAILED
        self._set_status(status, spec, len(node_ids), counts)
        await self._record(
            inp,
            status,
            node_count=len(node_ids),
            shard_count=len(shards),
            counts=counts,
            reason="; ".join(failures) or None,
            notes=resolved.notes,
            finished=True,
        )
        return DispatchResult(dispatch_id=spec.dispatch_id, status=status, counts=counts)

    def _set_status(
        self,
        status: DispatchStatus,
        spec: DispatchSpec,
        node_count: int | None,
        counts: StatusCounts | None,
    ) -> None:
        self._status = status
        workflow.upsert_search_attributes([sa.DISPATCH_STATUS.value_set(status.value)])
        workflow.upsert_memo({"summary": summary_text(spec, status, node_count, counts)})

    async def _forward_cancel(self, handles: list[workflow.ChildWorkflowHandle[Any, Any]]) -> None:
        await workflow.wait_condition(lambda: self._cancel is not None)
        request = self._cancel
        assert request is not None

        async def tell(handle: workflow.ChildWorkflowHandle[Any, Any]) -> None:
            try:
                await handle.signal(DispatchShardWorkflow.cancel, request)
            except Exception as err:  # the shard may have finished: nothing left to cancel
                workflow.logger.info("cancel not delivered to %s: %s", handle.id, err)

        await asyncio.gather(*(tell(h) for h in handles))

    async def _refuse(self, inp: DispatchInput, error: ApplicationError) -> Refusal:
        """Record the refusal and answer the starter's update; the caller then fails the
        workflow with the same non-retryable error."""
        refusal = Refusal(message=error.message, problems=refusal_problems(error.details))
        self._set_status(DispatchStatus.REFUSED, inp.spec, None, None)
        await self._record(
            inp,
            DispatchStatus.REFUSED,
            targets=inp.targets,
            reason=error.message,
            problems=refusal.problems,
            finished=True,
        )
        # Written first: a starter told of the refusal can read it at once.
        self._refusal = refusal
        await workflow.wait_condition(workflow.all_handlers_finished)
        return refusal

    async def _record(
        self,
        inp: DispatchInput,
        status: DispatchStatus,
        *,
        targets: list[str] | Literal["all"] | None = None,
        node_count: int | None = None,
        shard_count: int | None = None,
        counts: StatusCounts | None = None,
        reason: str | None = None,
        problems: list[str] | None = None,
        notes: list[str] | None = None,
        finished: bool = False,
    ) -> None:
        await workflow.execute_activity_method(
            DispatchActivities.record_dispatch,
            DispatchRecordInput(
                spec=inp.spec,
                workflow_id=workflow.info().workflow_id,
                targets=targets,
                status=status,
                node_count=node_count,
                shard_count=shard_count,
                counts=counts,
                reason=reason,
                problems=problems or [],
                notes=notes or [],
                cancel=self._cancel,
                finished_at=workflow.now() if finished else None,
            ),
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=RECORD_RETRY,
        )


IO_WORKFLOWS = [DispatchWorkflow, DispatchShardWorkflow]
