"""What the service refuses before it asks Temporal anything, and how it reads a
`dispatches` document."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

import pytest
from temporalio.client import Client

from tests.unit.dispatch.conftest import T0, at
from vpp.config import Settings
from vpp.dispatch.models import DispatchRequest, DispatchStatus, StatusCounts
from vpp.dispatch.service import DispatchRefused, DispatchService, summary_from_document
from vpp.models import Action, CommandParams
from vpp.store.database import Database


@pytest.fixture
def service(settings: Settings) -> DispatchService:
    # Neither is touched on these paths.
    return DispatchService(
        cast(Client, object()), cast(Database, object()), settings, clock=lambda: T0
    )


async def test_a_deadline_in_the_past_or_too_far_is_refused(service: DispatchService) -> None:
    for deadline, why in ((at(-1), "has passed"), (T0 + timedelta(days=2), "more than")):
        request = DispatchRequest(targets=["n1"], action=Action.HOLD, deadline=deadline)
        with pytest.raises(DispatchRefused, match=why):
            await service.start_dispatch(request, issuer="alice")


async def test_a_dispatch_needs_an_issuer(service: DispatchService) -> None:
    with pytest.raises(ValueError, match="issuer"):
        await service.start_dispatch(DispatchRequest(targets="all", action=Action.HOLD), "")


def document(**fields: Any) -> dict[str, Any]:
    return {
        "_id": "d1",
        "workflow_id": "dispatch-d1",
        "action": "charge",
        "params": {"kw": 5.0, "duration_s": 60},
        "targets": "all",
        "issued_by": "alice",
        "created_at": T0,
        "deadline": at(60),
        "status": "running",
        "node_count": 10,
        **fields,
    }


def test_a_running_dispatch_counts_its_shards_and_the_rest_as_pending() -> None:
    summary = summary_from_document(
        document(shards={"0": {"completed": 3, "sent": 2}, "1": {"accepted": 1}})
    )
    assert summary is not None
    assert summary.counts == StatusCounts(completed=3, sent=2, accepted=1, pending=4)
    assert (summary.status, summary.params) == (
        DispatchStatus.RUNNING,
        CommandParams(kw=5.0, duration_s=60),
    )


def test_a_finished_dispatch_shows_its_final_counts() -> None:
    summary = summary_from_document(
        document(status="completed", counts={"completed": 10}, shards={})
    )
    assert summary is not None
    assert summary.counts == StatusCounts(completed=10)


def test_a_document_with_only_shard_counts_is_not_shown_yet() -> None:
    assert summary_from_document({"_id": "d1", "shards": {"0": {"sent": 1}}}) is None
