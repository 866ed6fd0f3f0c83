"""The API's Temporal client: connected in the background, so the API serves reads (and
reports not ready) while Temporal is away, and dispatch use cases get a clear 503."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from temporalio.client import Client

from vpp.config import TemporalSettings
from vpp.services.errors import UnavailableError
from vpp.temporal_client import connect

log = logging.getLogger(__name__)


class TemporalConnection:
    def __init__(self, settings: TemporalSettings, *, retry_max_s: float = 10.0) -> None:
        self._settings = settings
        self._retry_max_s = retry_max_s
        self.client: Client | None = None
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="temporal-connect")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def require(self) -> Client:
        if self.client is None:
            raise UnavailableError("Temporal is not reachable yet; try again shortly")
        return self.client

    async def _connect(self) -> None:
        attempt = 0
        while True:
            try:
                self.client = await connect(self._settings)
            except Exception as exc:  # the SDK raises RuntimeError for a refused connection
                delay = min(self._retry_max_s, 0.5 * 2**attempt)
                attempt += 1
                log.warning("Temporal not reachable (retrying in %.1f s): %s", delay, exc)
                await asyncio.sleep(delay)  # a back-off: Temporal sends no event when back
                continue
            self.connected.set()
            log.info("connected to Temporal at %s", self._settings.address)
            return
