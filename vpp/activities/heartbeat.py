"""Heartbeats for long activities whose work runs in a thread (darts, SB3 training)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from temporalio import activity

HEARTBEAT_EVERY_S = 2.0


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[Callable[[str, float], None]]:
    """Heartbeat every few seconds with the latest progress the body reports (from any
    thread) until the body is done."""
    state: dict[str, Any] = {"phase": "start", "done": 0.0}

    def report(phase: str, done: float) -> None:
        state["phase"] = phase
        state["done"] = round(done, 3)

    async def beat() -> None:
        while True:
            activity.heartbeat(dict(state))
            await asyncio.sleep(HEARTBEAT_EVERY_S)

    task = asyncio.create_task(beat())
    try:
        yield report
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
