"""The dispatch use cases as the API serves them: `vpp.dispatch.service.DispatchService`
(which starts the workflows and reads MongoDB), built once Temporal is connected, with its
refusals turned into the API's errors and its lists paged by cursor.

A dispatch is always a workflow: nothing here publishes MQTT.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from vpp.config import Settings
from vpp.dispatch.models import (
    DispatchDetail,
    DispatchLogEntry,
    DispatchRequest,
    DispatchStarted,
    DispatchStatus,
    DispatchSummary,
    NodeStatus,
)
from vpp.dispatch.service import DispatchNotFound, DispatchRefused, DispatchService
from vpp.services.errors import (
    FieldProblem,
    InvalidInputError,
    NotFoundError,
    UnavailableError,
)
from vpp.services.nodes import invalid_input
from vpp.services.paging import Page, check_page_size, decode_cursor, encode_cursor
from vpp.store.database import Database

DISPATCH_CURSOR = "dispatch"
COMMAND_CURSOR = "command"
MAX_LOG = 1_000
MAX_DISPATCH_PAGE = 500


def check_dispatch_id(dispatch_id: str, field: str = "dispatchId") -> None:
    if not (1 <= len(dispatch_id) <= 48 and dispatch_id.isalnum() and dispatch_id.islower()):
        raise InvalidInputError.for_field(
            field, "a dispatch id is 1-48 lowercase letters or digits"
        )


def parse_request(data: Mapping[str, Any], prefix: str = "") -> DispatchRequest:
    try:
        return DispatchRequest.model_validate(dict(data))
    except ValidationError as exc:
        raise invalid_input(exc, prefix) from None


def refused(exc: DispatchRefused) -> InvalidInputError:
    problems = [FieldProblem("dispatch", p) for p in exc.problems] or [
        FieldProblem("dispatch", exc.message)
    ]
    return InvalidInputError(f"dispatch refused: {exc.message}", problems)


class Dispatches:
    def __init__(
        self,
        client: Callable[[], Client],
        db: Database,
        settings: Settings,
        *,
        task_queue: str | None = None,
    ) -> None:
        self._client = client
        self._db = db
        self._settings = settings
        self._task_queue = task_queue
        self._service: DispatchService | None = None

    def service(self) -> DispatchService:
        """The service; `UnavailableError` until Temporal is connected."""
        if self._service is None:
            self._service = DispatchService(
                self._client(), self._db, self._settings, task_queue=self._task_queue
            )
        return self._service

    async def start(self, request: DispatchRequest, issuer: str) -> DispatchStarted:
        try:
            return await self.service().start_dispatch(request, issuer)
        except DispatchRefused as exc:
            raise refused(exc) from None
        except RPCError as exc:
            raise UnavailableError(f"Temporal refused the request: {exc.message}") from None

    async def cancel(
        self, dispatch_id: str, requested_by: str, reason: str | None = None
    ) -> DispatchSummary:
        check_dispatch_id(dispatch_id)
        try:
            return await self.service().cancel_dispatch(dispatch_id, requested_by, reason)
        except DispatchNotFound:
            raise NotFoundError(f"no dispatch {dispatch_id!r}") from None
        except RPCError as exc:
            raise UnavailableError(f"Temporal refused the request: {exc.message}") from None

    async def get(self, dispatch_id: str) -> DispatchSummary | None:
        check_dispatch_id(dispatch_id)
        detail = await self.service().get_dispatch(dispatch_id, node_limit=1)
        return None if detail is None else detail.dispatch

    async def commands(
        self,
        dispatch_id: str,
        *,
        first: int = 100,
        after: str | None = None,
        status: NodeStatus | None = None,
    ) -> Page[DispatchLogEntry]:
        """A dispatch's node commands ordered by node id, a page at a time."""
        check_dispatch_id(dispatch_id)
        check_page_size(first)
        offset = 0
        if after is not None:
            position = decode_cursor(COMMAND_CURSOR, after)
            if not position.isdigit():
                raise InvalidInputError.for_field("after", "not a cursor this API issued")
            offset = int(position)
        detail: DispatchDetail | None = await self.service().get_dispatch(
            dispatch_id, node_status=status, node_limit=first + 1, node_offset=offset
        )
        if detail is None:
            raise NotFoundError(f"no dispatch {dispatch_id!r}")
        items = detail.nodes[:first]
        end = encode_cursor(COMMAND_CURSOR, str(offset + len(items))) if items else None
        return Page(items, len(detail.nodes) > first, end)

    async def page(
        self,
        *,
        first: int = 50,
        after: str | None = None,
        status: DispatchStatus | None = None,
        issued_by: str | None = None,
    ) -> Page[DispatchSummary]:
        """Dispatches newest first; the cursor is the last one's creation time."""
        check_page_size(first, maximum=MAX_DISPATCH_PAGE)
        before = None
        if after is not None:
            position = decode_cursor(DISPATCH_CURSOR, after)
            try:
                before = datetime.fromisoformat(position).astimezone(UTC)
            except ValueError:
                raise InvalidInputError.for_field("after", "not a cursor this API issued") from None
        found = await self.service().list_dispatches(
            limit=first + 1, status=status, issued_by=issued_by, before=before
        )
        items = found[:first]
        end = encode_cursor(DISPATCH_CURSOR, items[-1].created_at.isoformat()) if items else None
        return Page(items, len(found) > first, end)

    async def logs(self, dc_id: str | None = None, last: int = 50) -> list[DispatchLogEntry]:
        """Node commands, newest first (the seed's `/api/dispatch/logs`)."""
        if not 1 <= last <= MAX_LOG:
            raise InvalidInputError.for_field("last", f"must be between 1 and {MAX_LOG}")
        return await self.service().dispatch_logs(dc_id, last)
