"""Waiting for a server at process start: a process started before its servers waits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.runtime import Runtime

from vpp.config import TemporalSettings
from vpp.temporal_client import connect

log = logging.getLogger(__name__)

RETRY_INITIAL_S = 0.5
RETRY_MAX_S = 10.0


async def until_ready(what: str, attempt: Callable[[], Awaitable[None]]) -> None:
    """Run `attempt` until it succeeds, waiting longer after each failure."""
    delay = RETRY_INITIAL_S
    while True:
        try:
            await attempt()
        except Exception as exc:
            log.warning("%s not ready (retrying in %.1f s): %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        else:
            return


async def temporal_when_ready(
    temporal: TemporalSettings, *, runtime: Runtime | None = None
) -> Client:
    """A Temporal client, once the server answers."""
    clients: list[Client] = []

    async def attempt() -> None:
        clients.append(await connect(temporal, runtime=runtime))

    await until_ready("Temporal", attempt)
    return clients[0]
