"""The process's live feeds, created by the app's lifespan and shared by all clients:
one Redis pub/sub connection (`RedisListener`) feeding the telemetry broadcaster, the
dispatch progress hub and the forecast feed, plus the aggregate pollers and the alert
monitor (which, given the store, watches from the start and stores every alert)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from vpp.api.live.aggregate_feeds import AggregateFeeds
from vpp.api.live.alerts import AlertMonitor, AlertMonitorCollector
from vpp.api.live.broadcaster import Broadcaster
from vpp.api.live.forecasts import ForecastFeed
from vpp.api.live.listener import RedisListener
from vpp.api.live.progress import ProgressHub
from vpp.api.metrics import ApiMetrics
from vpp.bus.channels import RedisNames
from vpp.config import IngestSettings
from vpp.services.aggregate import AggregateReader
from vpp.store.database import Database
from vpp.store.live_state import RedisClient


@dataclass(frozen=True)
class LiveOptions:
    """Timings of the live feeds (tests shorten them)."""

    aggregate_poll_s: float = 1.0
    # The fleet's history gets one point per minute (`vpp.api.live.fleet_recorder`);
    # None records nothing.
    fleet_record_s: float | None = 60.0
    node_scan_s: float = 5.0
    queue_size: int = 256


class LiveHub:
    def __init__(
        self,
        redis: RedisClient,
        pubsub_redis: RedisClient,
        names: RedisNames,
        ingest: IngestSettings,
        metrics: ApiMetrics,
        *,
        aggregates: AggregateReader,
        forecast_channel: str,
        options: LiveOptions = LiveOptions(),
        db: Database | None = None,
        alert_retention: timedelta = timedelta(days=30),
    ) -> None:
        self.listener = RedisListener(pubsub_redis, metrics)
        self.telemetry = Broadcaster(names.telemetry_live, metrics, queue_size=options.queue_size)
        self.progress = ProgressHub(queue_size=options.queue_size)
        self.listener.on_channel(self.telemetry.channel, self.telemetry.on_message)
        self.listener.on_pattern(self.progress.pattern, self.progress.on_message)
        self.forecasts = ForecastFeed(forecast_channel)
        self.listener.on_channel(self.forecasts.channel, self.forecasts.on_message)
        self.aggregates = AggregateFeeds(aggregates, poll_s=options.aggregate_poll_s)
        self.alerts = AlertMonitor(
            redis,
            names,
            self.telemetry,
            ingest,
            scan_s=options.node_scan_s,
            db=db,
            retention=alert_retention,
        )
        self._store_alerts = db is not None
        metrics.registry.register(AlertMonitorCollector(self.alerts))

    @property
    def connected(self) -> asyncio.Event:
        """Set while the process's Redis subscription is up."""
        return self.listener.connected

    def start(self) -> None:
        self.listener.start()
        if self._store_alerts:
            self.alerts.start()

    async def stop(self) -> None:
        await self.alerts.stop()
        await self.aggregates.stop()
        await self.listener.stop()
