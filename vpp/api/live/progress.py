"""Dispatch progress for the `dispatchProgress` subscription: the process's one Redis
subscription listens to every dispatch's progress channel (a pattern), and each message
goes to the local subscribers of that dispatch only."""

from __future__ import annotations

import contextlib
import logging

from pydantic import ValidationError

from vpp.api.live.keyed import KeyedSubscribers, NewestQueue
from vpp.bus.channels import DEFAULT_PREFIX
from vpp.dispatch.models import DispatchProgress
from vpp.dispatch.progress import progress_channel

log = logging.getLogger(__name__)


class ProgressHub:
    def __init__(self, prefix: str = DEFAULT_PREFIX, *, queue_size: int = 256) -> None:
        self.pattern = progress_channel("*", prefix)
        self._head, _, self._tail = self.pattern.partition("*")
        self._subscribers: KeyedSubscribers[DispatchProgress] = KeyedSubscribers(queue_size)

    def subscribe(
        self, dispatch_id: str
    ) -> contextlib.AbstractContextManager[NewestQueue[DispatchProgress]]:
        return self._subscribers.subscribe(dispatch_id)

    def on_message(self, channel: str, data: bytes) -> None:
        if not (channel.startswith(self._head) and channel.endswith(self._tail)):
            return
        dispatch_id = channel[len(self._head) : len(channel) - len(self._tail)]
        if dispatch_id not in self._subscribers:
            return
        try:
            progress = DispatchProgress.model_validate_json(data)
        except ValidationError as exc:
            log.warning("progress of %s skipped: %s", dispatch_id, exc)
            return
        self._subscribers.put(dispatch_id, progress)
