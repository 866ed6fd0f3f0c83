"""Forecasts for the `forecasts` subscription: the forecast cycle publishes every forecast
it stored on one Redis channel (`ForecastSettings.redis_channel`, one message per cycle);
the process's one Redis subscription hands each message here, and each series' forecasts
go to the local subscribers of that series only.

A message is parsed only when someone listens, once for all of them. A subscriber that
falls behind loses its oldest cycles: a newer cycle supersedes them.
"""

from __future__ import annotations

import contextlib
import logging

from pydantic import ValidationError

from vpp.api.live.keyed import KeyedSubscribers, NewestQueue
from vpp.ml.forecast.messages import CycleForecasts
from vpp.services.forecasts import ForecastView

log = logging.getLogger(__name__)


class ForecastFeed:
    def __init__(self, channel: str, *, queue_size: int = 4) -> None:
        self.channel = channel
        # Per series: lists of its forecasts, one list per cycle.
        self._subscribers: KeyedSubscribers[list[ForecastView]] = KeyedSubscribers(queue_size)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(
        self, series_id: str
    ) -> contextlib.AbstractContextManager[NewestQueue[list[ForecastView]]]:
        """The forecasts of `series_id` (a node id or `fleet`) in every cycle from now."""
        return self._subscribers.subscribe(series_id)

    def on_message(self, channel: str, data: bytes) -> None:
        """The listener's handler: one cycle's message."""
        if not self._subscribers:
            return
        try:
            cycle = CycleForecasts.model_validate_json(data)
        except ValidationError as exc:
            log.warning("forecast message on %s skipped: %s", channel, exc)
            return
        by_series: dict[str, list[ForecastView]] = {}
        for f in cycle.forecasts:
            if f.series_id in self._subscribers:
                by_series.setdefault(f.series_id, []).append(ForecastView.published(cycle, f))
        for series_id, views in by_series.items():
            self._subscribers.put(series_id, views)
