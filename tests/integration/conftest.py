"""The real servers, started once per session through the same code as `vpp stack up`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from vpp.config import Settings
from vpp.stack import Stack


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
