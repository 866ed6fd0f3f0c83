from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from beanie import Document, init_beanie
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel

from vpp.config import Settings


class Reading(Document):
    node_id: str
    timestamp: datetime
    power_kw: float

    class Settings:
        name = f"test_readings_{uuid.uuid4().hex[:8]}"
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("node_id", ASCENDING), ("timestamp", DESCENDING)], name="node_time"),
        ]


@pytest.fixture
async def mongo(settings: Settings) -> AsyncIterator[AsyncMongoClient[dict[str, object]]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo.effective_uri, tz_aware=True
    )
    yield client
    await client.close()


async def test_beanie_inserts_and_finds_with_its_indexes(
    mongo: AsyncMongoClient[dict[str, object]], settings: Settings
) -> None:
    db = mongo[settings.mongo.database]
    await init_beanie(database=db, document_models=[Reading])
    now = datetime.now(UTC).replace(microsecond=0)
    await Reading(node_id="node-00001", timestamp=now, power_kw=4.2).insert()
    await Reading(node_id="node-00002", timestamp=now, power_kw=-1.5).insert()

    found = await Reading.find(Reading.node_id == "node-00001").to_list()
    assert [(r.node_id, r.power_kw, r.timestamp) for r in found] == [("node-00001", 4.2, now)]

    indexes = await db[Reading.Settings.name].index_information()
    assert indexes["node_time"]["key"] == [("node_id", 1), ("timestamp", -1)]
    await db.drop_collection(Reading.Settings.name)
