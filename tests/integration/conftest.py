"""The real servers, started once per session through the same code as `vpp stack up`."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.stack import Stack
from vpp.store.database import Database, mongo_client


@pytest.fixture(scope="session", autouse=True)
def stack(settings: Settings) -> Iterator[Stack]:
    stack = Stack(settings)
    already_running = {s.name for s in stack.servers if stack.record(s).pid() is not None}
    asyncio.run(stack.up())
    yield stack
    # Stop what this session started; VPP_TEST_KEEP_STACK=1 keeps it for the next run.
    started_here = [s.name for s in stack.servers if s.name not in already_running]
    if started_here and os.environ.get("VPP_TEST_KEEP_STACK") != "1":
        Stack(settings, only=started_here).down()


# The API's fixtures (a served app, Keycloak tokens), defined once for every test_api*.py.
from tests.integration.api_support import (  # noqa: E402, F401
    api,
    api_settings,
    api_store_bound,
    api_store_bound_per_module,
    client,
    names,
    tokens,
)


@pytest.fixture
async def scratch_db(settings: Settings) -> AsyncIterator[Database]:
    """A database of the test's own on the session's store, dropped after it."""
    mongo = mongo_client(settings.mongo)
    db = mongo[f"vpp_test_scratch_{uuid.uuid4().hex[:8]}"]
    yield db
    await mongo.drop_database(db.name)
    await mongo.close()


@pytest.fixture
async def scratch_redis(settings: Settings) -> AsyncIterator[Redis]:
    redis = Redis.from_url(settings.redis.url)
    yield redis
    await redis.aclose()


@pytest.fixture
async def scratch_names(scratch_redis: Redis) -> AsyncIterator[RedisNames]:
    """A Redis prefix of the test's own: its fleet is the nodes it writes, nothing else."""
    own = RedisNames(prefix=f"test-scratch-{uuid.uuid4().hex[:8]}")
    yield own
    async for key in scratch_redis.scan_iter(f"{own.prefix}*"):
        await scratch_redis.delete(key)
