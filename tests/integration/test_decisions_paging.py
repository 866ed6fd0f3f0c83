"""Paging through the optimiser's decisions on the real store: newest first, every
decision once, whether they are minutes or weeks apart (the fleet's are read in widening
windows of time) and whatever the filter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from vpp.config import Settings
from vpp.optimize.documents import DECISIONS, Decision
from vpp.services.automation import decisions_page
from vpp.store.database import Database, mongo_client

NOW = datetime.now(UTC).replace(microsecond=0)
# (minutes ago, node, acting): a cycle of three now, one two hours back, one three days
# back, two at the same instant after the retention (still there until pruned) and one
# older than the widest window.
DECISIONS_AGO = [
    (1, "n-1", True),
    (1, "n-2", False),
    (1, "n-3", True),
    (120, "n-1", False),
    (3 * 24 * 60, "n-2", True),
    (40 * 24 * 60, "n-1", True),
    (40 * 24 * 60, "n-3", False),
    (100 * 24 * 60, "n-2", False),
]


@pytest.fixture(scope="module")
async def db(settings: Settings) -> AsyncIterator[Database]:
    client = mongo_client(settings.mongo)
    db = client[f"vpp_test_decisions_{uuid.uuid4().hex[:8]}"]
    await db[DECISIONS].create_indexes(Decision.Settings.indexes)
    await db[DECISIONS].insert_many(
        [
            {
                "_id": f"cycle-{ago}:{node}",
                "cycle_id": f"cycle-{ago}",
                "dc_id": node,
                "decided_at": NOW - timedelta(minutes=ago),
                "policy": "rule",
                "action": "charge" if acting else None,
            }
            for ago, node, acting in DECISIONS_AGO
        ]
    )
    yield db
    await client.drop_database(db.name)
    await client.close()


def expected(keep: list[tuple[int, str, bool]]) -> list[str]:
    """Newest first, ties by id, as the API documents its order."""
    ordered = sorted(keep, key=lambda d: (-d[0], f"cycle-{d[0]}:{d[1]}"), reverse=True)
    return [f"cycle-{ago}:{node}" for ago, node, _ in ordered]


async def every_page(db: Database, first: int, **filters: object) -> list[str]:
    ids: list[str] = []
    after = None
    while True:
        page = await decisions_page(db, first=first, after=after, **filters)  # type: ignore[arg-type]
        ids += [item.id for item in page.items]
        assert len(page.items) <= first
        if not page.has_next:
            return ids
        after = page.end_cursor


@pytest.mark.parametrize("first", [1, 2, 3, 50])
async def test_the_fleets_decisions_come_newest_first_each_once(db: Database, first: int) -> None:
    assert await every_page(db, first) == expected(DECISIONS_AGO)


async def test_filters_page_the_same_way(db: Database) -> None:
    acting = [d for d in DECISIONS_AGO if d[2]]
    assert await every_page(db, 1, acting_only=True) == expected(acting)
    node = [d for d in DECISIONS_AGO if d[1] == "n-1"]
    assert await every_page(db, 2, dc_id="n-1") == expected(node)
    cycle = [d for d in DECISIONS_AGO if d[0] == 1 and d[2]]
    assert await every_page(db, 1, cycle_id="cycle-1", acting_only=True) == expected(cycle)
    assert await every_page(db, 5, cycle_id="no-such-cycle") == []
