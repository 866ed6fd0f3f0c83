"""What the app's lifespan opens and every request shares (`app.state.vpp`)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from vpp.api.auth import TokenVerifier
from vpp.api.live.hub import LiveHub
from vpp.api.metrics import ApiMetrics
from vpp.api.temporal import TemporalConnection
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.ingest.telemetry_writer import TelemetryWriter
from vpp.services.aggregate import AggregateReader
from vpp.services.dispatch import Dispatches
from vpp.store.database import Database, MongoClient


@dataclass(frozen=True)
class ApiState:
    settings: Settings
    names: RedisNames
    mongo: MongoClient
    db: Database
    redis: Redis
    verifier: TokenVerifier
    metrics: ApiMetrics
    live: LiveHub
    temporal: TemporalConnection
    telemetry_writer: TelemetryWriter
    dispatches: Dispatches
    aggregates: AggregateReader
