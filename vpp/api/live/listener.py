"""The process's one Redis pub/sub connection: every channel and pattern the live feeds
need, subscribed together, each message handed to its feed.

If Redis goes away the listener subscribes again with back-off; messages published
meanwhile are not replayed (live data: the store has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from vpp.api.live.cancellation import raise_if_cancelled
from vpp.api.metrics import ApiMetrics

log = logging.getLogger(__name__)

Handler = Callable[[str, bytes], None]


class RedisListener:
    def __init__(self, redis: Redis, metrics: ApiMetrics, *, retry_max_s: float = 5.0) -> None:
        self._redis = redis
        self._metrics = metrics
        self._retry_max_s = retry_max_s
        self._channels: dict[str, Handler] = {}
        self._patterns: dict[str, Handler] = {}
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def on_channel(self, channel: str, handler: Handler) -> None:
        self._channels[channel] = handler

    def on_pattern(self, pattern: str, handler: Handler) -> None:
        self._patterns[pattern] = handler

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="redis-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._disconnected()

    def _disconnected(self) -> None:
        self.connected.clear()
        self._metrics.live_connected.set(0)

    def _dispatch(self, message: dict[str, object]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        data = message.get("data")
        if not isinstance(data, bytes):
            return
        if kind == "message":
            handler = self._channels.get(channel)
        elif kind == "pmessage":
            handler = self._patterns.get(_text(message.get("pattern")))
        else:
            return
        if handler is None:
            return
        try:
            handler(channel, data)
        except Exception:  # one bad message must not end the process's subscription
            log.exception("handling a message on %s failed", channel)

    async def _run(self) -> None:
        attempt = 0
        expected = len(self._channels) + len(self._patterns)
        while True:
            delay = min(self._retry_max_s, 0.1 * 2**attempt)
            pubsub = self._redis.pubsub()
            try:
                confirmed = 0
                if self._channels:
                    await pubsub.subscribe(*self._channels)
                if self._patterns:
                    await pubsub.psubscribe(*self._patterns)
                async for message in pubsub.listen():
                    raise_if_cancelled()
                    if message.get("type") in ("subscribe", "psubscribe"):
                        confirmed += 1
                        if confirmed == expected:
                            attempt = 0
                            self.connected.set()
                            self._metrics.live_connected.set(1)
                            log.info(
                                "listening on %s",
                                ", ".join([*self._channels, *self._patterns]),
                            )
                    else:
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                attempt += 1
                log.warning("live channels lost (%s); subscribing again in %.1f s", exc, delay)
            finally:
                self._disconnected()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise_if_cancelled()
            await asyncio.sleep(delay)  # a back-off: Redis sends no event when it is back


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
