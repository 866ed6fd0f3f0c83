"""A batcher: callers submit items one by one and wait; the batcher writes them in batches.

A batch is written when it holds `batch_size` items or its oldest item has waited
`flush_interval_s`, whichever comes first; one batch at a time (FACTS.md: parallel
batches are slower on the store). While a batch is being written the next one fills.
One more trigger keeps latency low when the store keeps up: a writer that is idle
writes as soon as `idle_batch` items (half a batch by default) are waiting. Under
load the writer is rarely idle and batches grow to `batch_size`, the store's most
efficient size (measured on SecantusDB: 500 per call ~6,700 docs/s, 250 ~6,000, 100
~5,100); at moderate load a reading waits for half a batch instead of a whole one.

A failed write is retried, with backoff, until it succeeds: the callers keep waiting,
so ingest does not acknowledge their messages and nothing is dropped. Items beyond
`max_buffered` (waiting + being written) make `submit` itself wait, which stops
ingest from taking more messages off the broker: back-pressure through QoS 1.

`flush(items, attempt)` returns one result per item, in order; `attempt` counts the
retries of this batch (0 the first time), so a writer can tell its own earlier partial
success from someone else's duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

FlushFn = Callable[[Sequence[T], int], Awaitable[Sequence[R]]]
ErrorHook = Callable[[BaseException, int], None]


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.05
    max_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_s, self.initial_s * 2 ** min(attempt, 30)))


_DEFAULT_BACKOFF = Backoff()


@dataclass
class _Entry(Generic[T, R]):
    item: T
    future: asyncio.Future[R]
    at: float


class BatcherClosed(Exception):
    """The batcher stopped before the item could be written."""


class BatchResultMismatch(Exception):
    """The flush function broke its contract (one result per item)."""


class Batcher(Generic[T, R]):
    def __init__(
        self,
        name: str,
        flush: FlushFn[T, R],
        *,
        batch_size: int,
        flush_interval_s: float,
        max_buffered: int,
        idle_batch: int | None = None,
        backoff: Backoff = _DEFAULT_BACKOFF,
        on_error: ErrorHook | None = None,
    ) -> None:
        if batch_size < 1 or max_buffered < 1 or flush_interval_s <= 0:
            raise ValueError("batch_size and max_buffered must be >= 1, flush_interval_s > 0")
        self.name = name
        self._flush = flush
        self._batch_size = batch_size
        self._idle_batch = min(batch_size, max(1, idle_batch or batch_size // 2))
        self._interval = flush_interval_s
        self._max_buffered = max(max_buffered, batch_size)
        self._backoff = backoff
        self._on_error = on_error
        self._pending: deque[_Entry[T, R]] = deque()
        self._writing = 0
        self._wakeup = asyncio.Event()
        self._space: deque[asyncio.Future[None]] = deque()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def buffered(self) -> int:
        """Items submitted and not yet written (waiting or being written)."""
        return len(self._pending) + self._writing

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"batcher-{self.name}")

    async def submit(self, item: T) -> R:
        """Queue one item and wait until its batch is written; its result."""
        loop = asyncio.get_running_loop()
        while self.buffered >= self._max_buffered and not self._closing:
            waiter: asyncio.Future[None] = loop.create_future()
            self._space.append(waiter)
            await waiter
        if self._closing:
            raise BatcherClosed(self.name)
        entry: _Entry[T, R] = _Entry(item, loop.create_future(), loop.time())
        self._pending.append(entry)
        if len(self._pending) in (1, self._idle_batch):
            self._wakeup.set()
        return await entry.future

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (for up to `timeout_s`), then stop; items still unwritten
        fail with `BatcherClosed` (their messages stay unacknowledged)."""
        self._closing = True
        self._wakeup.set()
        self._release_space(everyone=True)
        task, self._task = self._task, None
        if task is None:
            self._fail_pending()
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            log.warning("%s: %d items unwritten at stop", self.name, self.buffered)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._fail_pending()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            # Here the writer is idle: half a batch (`idle_batch`) is enough to start.
            if len(self._pending) < self._idle_batch and not self._closing:
                delay = self._pending[0].at + self._interval - loop.time()
                if delay > 0:
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):
                            await self._wakeup.wait()
                    continue
            count = min(self._batch_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            self._writing = count
            try:
                results = await self._write(batch)
            except Exception as exc:  # a bug in the writer: fail this batch, keep running
                log.exception("%s: batch of %d failed for good", self.name, count)
                for entry in batch:
                    if not entry.future.done():
                        entry.future.set_exception(exc)
                continue
            finally:
                self._writing = 0
                self._release_space()
            for entry, result in zip(batch, results, strict=True):
                if not entry.future.done():  # its caller may have been cancelled
                    entry.future.set_result(result)

    async def _write(self, batch: list[_Entry[T, R]]) -> Sequence[R]:
        try:
            return await self._write_until_done([entry.item for entry in batch])
        except asyncio.CancelledError:
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(BatcherClosed(self.name))
            raise

    async def _write_until_done(self, items: list[T]) -> Sequence[R]:
        attempt = 0
        while True:
            try:
                results = await self._flush(items, attempt)
            except Exception as exc:
                if self._on_error is not None:
                    self._on_error(exc, attempt)
                delay = self._backoff.delay(attempt)
                log.warning(
                    "%s: writing %d items failed (attempt %d, retrying in %.2f s): %s",
                    self.name,
                    len(items),
                    attempt + 1,
                    delay,
                    _short(exc),
                )
                attempt += 1
                await asyncio.sleep(delay)  # a backoff: the store sends no event when back
                continue
            if len(results) != len(items):
                raise BatchResultMismatch(f"{len(results)} results for {len(items)} items")
            if attempt:
                log.info("%s: batch written after %d retries", self.name, attempt)
            return results

    def _release_space(self, everyone: bool = False) -> None:
        free = self._max_buffered - self.buffered
        while self._space and (everyone or free > 0):
            waiter = self._space.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def _fail_pending(self) -> None:
        while self._pending:
            entry = self._pending.popleft()
            if not entry.future.done():
                entry.future.set_exception(BatcherClosed(self.name))


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:300] + "..."
