"""The dispatch use cases, for GraphQL and REST: start, cancel, read, list, the log.

`DispatchService` is built once in the API's lifespan with its Temporal client and
database. It starts workflows and reads MongoDB; it never publishes MQTT itself (a
dispatch is always a workflow).

| API | call |
| --- | --- |
| mutation `dispatch`, `POST /api/dispatch` | `start_dispatch(request, issuer)` |
| mutation `cancelDispatch` | `cancel_dispatch(dispatch_id, requested_by)` |
| query `dispatch(id)` | `get_dispatch(dispatch_id)` |
| query `dispatches` | `list_dispatches(...)` |
| query `dispatchLog`, `GET /api/dispatch/logs?dc_id=&limit=` | `dispatch_logs(dc_id, limit)` |
| subscription `dispatchProgress(id)` | Redis channel `progress_channel(id)` |

Progress messages are `DispatchProgress` as JSON;
`vpp.dispatch.progress.progress_subscription` subscribes and iterates them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from vpp.activities.dispatch import DISPATCH_REFUSED, refusal_problems
from vpp.config import Settings
from vpp.dispatch.documents import DISPATCH_LOG, DISPATCHES, DispatchLogRecord, DispatchRecord
from vpp.dispatch.ids import dispatch_workflow_id, new_dispatch_id
from vpp.dispatch.models import (
    AwaitAcceptance,
    CancelRequest,
    DispatchDetail,
    DispatchInput,
    DispatchLogEntry,
    DispatchRequest,
    DispatchSpec,
    DispatchStarted,
    DispatchStatus,
    DispatchSummary,
    DispatchTiming,
    NodeStatus,
    StatusCounts,
)
from vpp.dispatch.progress import progress_channel
from vpp.dispatch.settings import DispatchSettings, dispatch_settings
from vpp.store.database import Database
from vpp.store.recent import newest_first
from vpp.workflows.dispatch import DispatchWorkflow, dispatch_search_attributes, summary_text

MAX_DEADLINE = timedelta(hours=24)
MAX_LIMIT = 1_000
MAX_NODES = 20_000


class DispatchRefused(ValueError):
    """The dispatch is impossible as asked; nothing was sent."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class DispatchNotFound(LookupError):
    pass


def _limit(limit: int, most: int = MAX_LIMIT) -> int:
    if not 1 <= limit <= most:
        raise ValueError(f"limit must be between 1 and {most}")
    return limit


class DispatchService:
    def __init__(
        self,
        client: Client,
        db: Database,
        settings: Settings,
        *,
        task_queue: str | None = None,
        options: DispatchSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._db = db
        self._settings = settings
        self._options = options or dispatch_settings(settings)
        self._task_queue = task_queue or settings.temporal.io_task_queue
        self._now = clock

    @staticmethod
    def progress_channel(dispatch_id: str) -> str:
        return progress_channel(dispatch_id)

    # -- start and cancel -------------------------------------------------------------------

    async def start_dispatch(self, request: DispatchRequest, issuer: str) -> DispatchStarted:
        """Start (or, for a retried `request_id`, find) the dispatch; returns as soon as
        its targets are checked, long before the nodes answer.

        Raises `DispatchRefused` (nothing sent) for an impossible request: an unknown
        node, kW over a node's capacity, an action a node cannot do, a deadline passed."""
        if not issuer:
            raise ValueError("a dispatch needs an issuer")
        now = self._now()
        options = self._options
        deadline = request.deadline or now + timedelta(seconds=options.default_ack_window_s)
        if deadline <= now:
            raise DispatchRefused("the deadline has passed", [f"deadline {deadline.isoformat()}"])
        if deadline - now > MAX_DEADLINE:
            raise DispatchRefused(f"the deadline is more than {MAX_DEADLINE} away")
        dispatch_id = new_dispatch_id(issuer, request.request_id)
        workflow_id = dispatch_workflow_id(dispatch_id)
        spec = DispatchSpec(
            dispatch_id=dispatch_id,
            action=request.action,
            params=request.params,
            issued_by=issuer,
            created_at=now,
            deadline=deadline,
        )
        inp = DispatchInput(
            spec=spec,
            targets=request.targets,
            timing=DispatchTiming.from_settings(options),
            shard_size=options.shard_size,
            max_shard_events=options.max_shard_events,
        )
        start = WithStartWorkflowOperation(
            DispatchWorkflow.run,
            inp,
            id=workflow_id,
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=dispatch_search_attributes(spec, DispatchStatus.RESOLVING),
            memo={"summary": summary_text(spec, DispatchStatus.RESOLVING, None, None)},
        )
        try:
            acceptance = await self._client.execute_update_with_start_workflow(
                DispatchWorkflow.accepted, AwaitAcceptance(), start_workflow_operation=start
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == DISPATCH_REFUSED:
                raise DispatchRefused(cause.message, refusal_problems(cause.details)) from None
            raise
        except WorkflowAlreadyStartedError:
            # The same request, already finished: say what became of it.
            return await self._finished(dispatch_id)
        return DispatchStarted(
            dispatch_id=dispatch_id,
            workflow_id=workflow_id,
            node_count=acceptance.node_count,
            shard_count=acceptance.shard_count,
            deadline=acceptance.deadline,
            progress_channel=progress_channel(dispatch_id),
            existing=acceptance.created_at != now,
        )

    async def _finished(self, dispatch_id: str) -> DispatchStarted:
        record = await self._record(dispatch_id)
        if record is None or record.status is None:
            raise DispatchNotFound(dispatch_id)
        if record.status is DispatchStatus.REFUSED:
            raise DispatchRefused(record.reason or "refused", record.problems)
        assert record.deadline is not None
        return DispatchStarted(
            dispatch_id=dispatch_id,
            workflow_id=dispatch_workflow_id(dispatch_id),
            node_count=record.node_count or 0,
            shard_count=record.shard_count or 0,
            deadline=record.deadline,
            progress_channel=progress_channel(dispatch_id),
            existing=True,
        )

    async def cancel_dispatch(
        self, dispatch_id: str, requested_by: str, reason: str | None = None
    ) -> DispatchSummary:
        """Stop further sends; nodes that have not answered end `cancelled`. A finished
        dispatch is left as it is. Returns the dispatch as it stands (the cancel takes
        effect within moments: follow the progress channel or read it again)."""
        handle = self._client.get_workflow_handle(dispatch_workflow_id(dispatch_id))
        try:
            await handle.signal(
                DispatchWorkflow.cancel, CancelRequest(requested_by=requested_by, reason=reason)
            )
        except RPCError as exc:
            if exc.status is not RPCStatusCode.NOT_FOUND:
                raise
        summary = await self._summary(dispatch_id)
        if summary is None:
            raise DispatchNotFound(dispatch_id)
        return summary

    # -- reads ------------------------------------------------------------------------------

    async def get_dispatch(
        self,
        dispatch_id: str,
        *,
        node_status: NodeStatus | None = None,
        node_limit: int = MAX_NODES,
        node_offset: int = 0,
    ) -> DispatchDetail | None:
        """The dispatch and each node's command (ordered by node id), None if unknown."""
        summary = await self._summary(dispatch_id)
        if summary is None:
            return None
        query: dict[str, Any] = {"dispatch_id": dispatch_id}
        if node_status is not None:
            query["status"] = node_status.value
        cursor = (
            self._db[DISPATCH_LOG]
            .find(query)
            .sort("dc_id", 1)
            .skip(node_offset)
            .limit(_limit(node_limit, MAX_NODES))
        )
        nodes = [log_entry_from_document(doc) async for doc in cursor]
        return DispatchDetail(dispatch=summary, nodes=nodes)

    async def list_dispatches(
        self,
        *,
        limit: int = 50,
        status: DispatchStatus | None = None,
        issued_by: str | None = None,
        before: datetime | None = None,
    ) -> list[DispatchSummary]:
        """The newest dispatches first."""
        # Newest first in windows of `created_at` (`newest_first`): one sorted query would
        # read and sort every dispatch kept. The issuer, else the status, goes with the time
        # (each has an index with it); the other is checked here.
        equal: dict[str, str] = {}
        if issued_by is not None:
            equal["issued_by"] = issued_by
        elif status is not None:
            equal["status"] = status.value
        found = await newest_first(
            self._db[DISPATCHES],
            "created_at",
            need=_limit(limit),
            equal=equal,
            below=None if before is None else {"$lt": before},
            keep=lambda doc: status is None or doc.get("status") == status.value,
        )
        summaries = []
        for doc in found[: _limit(limit)]:
            summary = summary_from_document(doc)
            if summary is not None:
                summaries.append(summary)
        return summaries

    async def dispatch_logs(
        self, dc_id: str | None = None, limit: int = 50
    ) -> list[DispatchLogEntry]:
        """The seed's `GET /api/dispatch/logs?dc_id=&limit=`: node commands, newest first."""
        found = await newest_first(
            self._db[DISPATCH_LOG],
            "timestamp",
            need=_limit(limit),
            equal=None if dc_id is None else {"dc_id": dc_id},
        )
        return [log_entry_from_document(doc) for doc in found[: _limit(limit)]]

    async def _record(self, dispatch_id: str) -> DispatchRecord | None:
        doc = await self._db[DISPATCHES].find_one({"_id": dispatch_id})
        return None if doc is None else DispatchRecord.model_validate(doc)

    async def _summary(self, dispatch_id: str) -> DispatchSummary | None:
        doc = await self._db[DISPATCHES].find_one({"_id": dispatch_id})
        return None if doc is None else summary_from_document(doc)


def summary_from_document(doc: dict[str, Any]) -> DispatchSummary | None:
    """A `dispatches` document as the API shows it; None while the parent's first write
    has not landed (only shard counts are there)."""
    record = DispatchRecord.model_validate(doc)
    if (
        record.workflow_id is None
        or record.action is None
        or record.params is None
        or record.issued_by is None
        or record.created_at is None
        or record.deadline is None
        or record.status is None
        or record.targets is None
    ):
        return None
    counts = record.counts
    if counts is None:
        counts = StatusCounts()
        for shard in record.shards.values():
            counts = counts.add(shard)
        if record.node_count is not None and counts.total < record.node_count:
            counts = counts.model_copy(
                update={"pending": counts.pending + record.node_count - counts.total}
            )
    return DispatchSummary(
        dispatch_id=str(doc["_id"]),
        workflow_id=record.workflow_id,
        action=record.action,
        params=record.params,
        targets=record.targets,
        issued_by=record.issued_by,
        created_at=record.created_at,
        deadline=record.deadline,
        status=record.status,
        node_count=record.node_count,
        counts=counts,
        reason=record.reason,
        problems=record.problems,
        notes=record.notes,
        cancelled_by=record.cancelled_by,
        finished_at=record.finished_at,
        updated_at=record.updated_at,
    )


def log_entry_from_document(doc: dict[str, Any]) -> DispatchLogEntry:
    record = DispatchLogRecord.model_validate(doc)
    return DispatchLogEntry(
        id=str(doc["_id"]),
        command_id=str(doc["_id"]),
        **record.model_dump(
            exclude={"shard", "measured_samples", "node_accepted_at", "node_completed_at"}
        ),
    )
