"""Listing dispatches and node commands on the real store: newest first, the newest
`limit`, whatever the filter and however far apart in time (they are read in widening
windows of time, `vpp.store.recent`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from temporalio.client import Client

from vpp.config import Settings
from vpp.dispatch.documents import DISPATCH_LOG, DISPATCHES, Dispatch, DispatchLog
from vpp.dispatch.models import DispatchStatus
from vpp.dispatch.service import DispatchService
from vpp.store.database import Database, mongo_client

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = 24 * 60
# (minutes ago, status, issuer): from a minute to 100 days back, past the widest window.
DISPATCHES_AGO = [
    (1, "running", "operator"),
    (5, "completed", "automation"),
    (90, "completed", "operator"),
    (2 * DAY, "failed", "automation"),
    (2 * DAY + 1, "completed", "operator"),
    (40 * DAY, "completed", "automation"),
    (100 * DAY, "partial", "operator"),
]
# (minutes ago, node) of node commands.
COMMANDS_AGO = [(1, "n-1"), (1, "n-2"), (30, "n-1"), (3 * DAY, "n-2"), (100 * DAY, "n-1")]


@pytest.fixture(scope="module")
async def service(settings: Settings) -> AsyncIterator[DispatchService]:
    client = mongo_client(settings.mongo)
    db: Database = client[f"vpp_test_dispatch_lists_{uuid.uuid4().hex[:8]}"]
    await db[DISPATCHES].create_indexes(Dispatch.Settings.indexes)
    await db[DISPATCH_LOG].create_indexes(DispatchLog.Settings.indexes)
    await db[DISPATCHES].insert_many(
        [
            {
                "_id": f"d-{ago}",
                "workflow_id": f"w-{ago}",
                "action": "discharge",
                "params": {"kw": 1.0, "duration_s": 900},
                "targets": "all",
                "status": status,
                "issued_by": issuer,
                "created_at": NOW - timedelta(minutes=ago),
                "deadline": NOW - timedelta(minutes=ago - 15),
                "node_count": 1,
            }
            for ago, status, issuer in DISPATCHES_AGO
        ]
    )
    await db[DISPATCH_LOG].insert_many(
        [
            {
                "_id": f"c-{ago}-{node}",
                "dispatch_id": f"d-{ago}",
                "dc_id": node,
                "action": "discharge",
                "params": {"kw": 1.0, "duration_s": 900},
                "issued_by": "operator",
                "timestamp": NOW - timedelta(minutes=ago),
                "status": "completed",
                "shard": 0,
                "attempts": 1,
            }
            for ago, node in COMMANDS_AGO
        ]
    )
    # Listing needs no Temporal client: only starting and cancelling do.
    yield DispatchService(cast(Client, None), db, settings)
    await client.drop_database(db.name)
    await client.close()


def newest(rows: list[tuple[int, str, str]], limit: int) -> list[str]:
    return [f"d-{ago}" for ago, _, _ in sorted(rows)[:limit]]


@pytest.mark.parametrize("limit", [1, 3, 50])
async def test_dispatches_newest_first_whatever_the_filter(
    service: DispatchService, limit: int
) -> None:
    async def ids(**filters: object) -> list[str]:
        found = await service.list_dispatches(limit=limit, **filters)  # type: ignore[arg-type]
        return [d.dispatch_id for d in found]

    assert await ids() == newest(DISPATCHES_AGO, limit)
    done = DispatchStatus.COMPLETED
    assert await ids(status=done) == newest([d for d in DISPATCHES_AGO if d[1] == done], limit)
    operator = [d for d in DISPATCHES_AGO if d[2] == "operator"]
    assert await ids(issued_by="operator") == newest(operator, limit)
    both = [d for d in operator if d[1] == done]
    assert await ids(status=done, issued_by="operator") == newest(both, limit)
    before = NOW - timedelta(minutes=90)  # the one issued exactly then is not before it
    older = [d for d in DISPATCHES_AGO if d[0] > 90]
    assert await ids(before=before) == newest(older, limit)


async def test_node_commands_newest_first(service: DispatchService) -> None:
    every = [f"c-{ago}-{node}" for ago, node in sorted(COMMANDS_AGO, key=lambda c: c[0])]
    # Two commands share the newest instant: the higher id comes first.
    every[:2] = sorted(every[:2], reverse=True)
    assert [c.command_id for c in await service.dispatch_logs(limit=50)] == every
    assert [c.command_id for c in await service.dispatch_logs(limit=2)] == every[:2]
    n1 = [c for c in every if c.endswith("n-1")]
    assert [c.command_id for c in await service.dispatch_logs("n-1", limit=50)] == n1
