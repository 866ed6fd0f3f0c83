"""The aggregate subscription's source: one poller per scope in use, shared by every
subscriber of that scope in the process.

Each poller reads the scope's aggregate through the store's cache every `poll_s` and
pushes it when it differs from the last one pushed (`computed_at` aside), so clients get
a message when the aggregate changes, at most as fresh as the store's cache
(`settings.ingest.aggregate_cache_s`), and the fleet-wide computation still runs once
per cache period for every process and REST caller together. A subscriber that falls
behind gets the newest value, not a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import RedisError

from vpp.api.live.cancellation import raise_if_cancelled
from vpp.services.aggregate import AggregateReader
from vpp.store.aggregate import Aggregate

log = logging.getLogger(__name__)

Scope = tuple[str, ...] | None


class Latest:
    """Holds the newest value for one subscriber; `get` waits for a newer one."""

    def __init__(self) -> None:
        self._value: Aggregate | None = None
        self._fresh = asyncio.Event()

    def put(self, value: Aggregate) -> None:
        self._value = value
        self._fresh.set()

    async def get(self) -> Aggregate:
        await self._fresh.wait()
        self._fresh.clear()
        assert self._value is not None
        return self._value


class _Feed:
    def __init__(self) -> None:
        self.subscribers: set[Latest] = set()
        self.last: Aggregate | None = None
        self.task: asyncio.Task[None] | None = None


class AggregateFeeds:
    def __init__(self, reader: AggregateReader, *, poll_s: float = 1.0) -> None:
        self._reader = reader
        self._poll_s = poll_s
        self._feeds: dict[Scope, _Feed] = {}

    @property
    def active_scopes(self) -> int:
        return len(self._feeds)

    @contextlib.asynccontextmanager
    async def subscribe(self, scope: Scope) -> AsyncIterator[Latest]:
        feed = self._feeds.get(scope)
        if feed is None:
            feed = _Feed()
            self._feeds[scope] = feed
            feed.task = asyncio.create_task(self._poll(scope, feed), name=f"aggregate-{scope}")
        latest = Latest()
        if feed.last is not None:
            latest.put(feed.last)
        feed.subscribers.add(latest)
        try:
            yield latest
        finally:
            feed.subscribers.discard(latest)
            if not feed.subscribers and self._feeds.get(scope) is feed:
                del self._feeds[scope]
                if feed.task is not None:
                    feed.task.cancel()

    async def stop(self) -> None:
        tasks = [f.task for f in self._feeds.values() if f.task is not None]
        self._feeds.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self, scope: Scope, feed: _Feed) -> None:
        last_key: dict[str, Any] | None = None
        while True:
            try:
                value = await self._reader.read(scope)
            except (RedisError, OSError) as exc:
                log.warning("aggregate of %s unavailable: %s", scope or "the fleet", exc)
            except Exception:
                # A dead task would leave every subscriber of the scope waiting on a value
                # that never changes again, with no error: the next poll tries again.
                log.exception("aggregate of %s unavailable", scope or "the fleet")
            else:
                key = value.model_dump(exclude={"computed_at"})
                if key != last_key:
                    last_key = key
                    feed.last = value
                    for subscriber in list(feed.subscribers):
                        subscriber.put(value)
            raise_if_cancelled()
            await asyncio.sleep(self._poll_s)  # a period: the cache expiring sends no event
