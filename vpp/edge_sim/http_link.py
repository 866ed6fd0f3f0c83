"""The fallback when MQTT is switched off: each reading is POSTed as JSON to the platform's
telemetry endpoint, one at a time and in order, from the same store-and-forward buffer.

A reading counts as sent on a 2xx answer. A 4xx other than 408 and 429 refuses that
reading for good (it is counted and skipped, or it would block every later one); any
other failure is retried with back-off. HTTP carries no commands, so a node on this link
is never dispatched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import httpx

from vpp.edge_sim.backoff import Backoff
from vpp.edge_sim.buffer import Reading, TelemetryBuffer
from vpp.edge_sim.link import LinkStats
from vpp.models import Ack

log = logging.getLogger(__name__)

_RETRYABLE_4XX = frozenset({408, 429})
_HEADERS = {"content-type": "application/json"}


class HttpNodeLink:
    def __init__(
        self,
        node_id: str,
        url: str,
        client: httpx.AsyncClient,
        buffer_size: int,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.node_id = node_id
        self.url = url
        self.buffer = TelemetryBuffer(buffer_size)
        self.stats = LinkStats()
        self._client = client
        self._backoff = Backoff(rng or random.Random(node_id))
        self._connected = False
        self._online_wanted = True
        self._stopping = False
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._connected and self._online_wanted

    @property
    def online_wanted(self) -> bool:
        return self._online_wanted

    @property
    def pending(self) -> int:
        return len(self.buffer)

    def submit(self, reading: Reading) -> None:
        self.buffer.append(reading)
        self._drained.clear()
        self._wake.set()

    def send_ack(self, ack: Ack) -> None:
        log.debug("%s: no command channel over HTTP; ack %s not sent", self.node_id, ack.command_id)

    def drop_next_acks(self, count: int) -> None:
        """No acks travel over HTTP, so there are none to drop."""

    @property
    def acks_to_drop(self) -> int:
        return 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"http-{self.node_id}")

    def set_online(self, online: bool) -> None:
        self._online_wanted = online
        self._wake.set()

    async def drain(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._drained.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _sleep(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _run(self) -> None:
        while not self._stopping:
            reading = self.buffer.peek()
            if reading is None or not self._online_wanted:
                if reading is None:
                    self._drained.set()
                await self._sleep(None)
                continue
            if await self._post(reading):
                self._backoff.reset()
            else:
                await self._sleep(self._backoff.next_delay())

    async def _post(self, reading: Reading) -> bool:
        """Send one reading; True if the next one may go at once."""
        try:
            response = await self._client.post(self.url, content=reading.payload, headers=_HEADERS)
        except httpx.HTTPError as exc:
            self._connected = False
            log.debug("%s: POST %s failed: %s", self.node_id, self.url, exc)
            return False
        self._connected = True
        status = response.status_code
        if status < 300:
            self.stats.sent += 1
        elif 400 <= status < 500 and status not in _RETRYABLE_4XX:
            self.stats.refused += 1
            log.warning(
                "%s: %s refused reading %d: %d %s",
                self.node_id,
                self.url,
                reading.seq,
                status,
                response.text[:200],
            )
        else:
            log.debug("%s: POST %s answered %d; will retry", self.node_id, self.url, status)
            return False
        # The buffer may have dropped this reading while it was on its way.
        if self.buffer.peek() is reading:
            self.buffer.popleft()
        return True
