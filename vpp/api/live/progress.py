"""Dispatch progress for the `dispatchProgress` subscription: the process's one Redis
subscription listens to every dispatch's progress channel (a pattern), and each message
goes to the local subscribers of that dispatch only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from pydantic import ValidationError

from vpp.bus.channels import DEFAULT_PREFIX
from vpp.dispatch.models import DispatchProgress
from vpp.dispatch.progress import progress_channel

log = logging.getLogger(__name__)


class ProgressQueue:
    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[DispatchProgress] = asyncio.Queue(maxsize)

    def put(self, progress: DispatchProgress) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # progress carries state: the newest says enough
        self._queue.put_nowait(progress)

    async def get(self) -> DispatchProgress:
        return await self._queue.get()


class ProgressHub:
    def __init__(self, prefix: str = DEFAULT_PREFIX, *, queue_size: int = 256) -> None:
        self.pattern = progress_channel("*", prefix)
        self._head, _, self._tail = self.pattern.partition("*")
        self._queue_size = queue_size
        self._subscribers: dict[str, set[ProgressQueue]] = {}

    @contextlib.contextmanager
    def subscribe(self, dispatch_id: str) -> Iterator[ProgressQueue]:
        queue = ProgressQueue(self._queue_size)
        self._subscribers.setdefault(dispatch_id, set()).add(queue)
        try:
            yield queue
        finally:
            queues = self._subscribers.get(dispatch_id)
            if queues is not None:
                queues.discard(queue)
                if not queues:
                    del self._subscribers[dispatch_id]

    def on_message(self, channel: str, data: bytes) -> None:
        if not (channel.startswith(self._head) and channel.endswith(self._tail)):
            return
        dispatch_id = channel[len(self._head) : len(channel) - len(self._tail)]
        queues = self._subscribers.get(dispatch_id)
        if not queues:
            return
        try:
            progress = DispatchProgress.model_validate_json(data)
        except ValidationError as exc:
            log.warning("progress of %s skipped: %s", dispatch_id, exc)
            return
        for queue in list(queues):
            queue.put(progress)
