"""The MongoDB side of the store: the client, the telemetry collection and `init_beanie`.

The telemetry collection is created here, not by Beanie, because its shape depends on
the server:

- a time series (timeField `timestamp`, metaField `dc_id`) with a unique
  (dc_id, timestamp) index where the server accepts a unique index on a time series
  (SecantusDB does);
- otherwise (a real `mongod` refuses unique indexes on time series) a plain collection
  with the same unique index, because that index is what makes redelivered readings
  land exactly once (see `vpp.store.documents.TELEMETRY_KEY_INDEX`).

Retention (`settings.mongo.telemetry_retention_days`): a time series gets
`expireAfterSeconds`; a plain collection gets a TTL index on `timestamp` — except on
SecantusDB, whose TTL sweeper decodes every document of a collection with a TTL index
under its storage lock once a minute (measured: a 6.6 s write stall at 310,000 readings,
8.8 s at 546,000, growing with the collection). SecantusDB also ignores a time series'
`expireAfterSeconds`, so there retention is done by `vpp.store.retention.prune_telemetry`,
which the ingester runs periodically when `StoreInfo.retention_enforced` is False.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid, OperationFailure

from vpp.config import MongoSettings
from vpp.store.documents import (
    DOCUMENT_MODELS,
    TELEMETRY,
    TELEMETRY_KEY,
    TELEMETRY_KEY_INDEX,
    StoredTelemetry,
)

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Database = AsyncDatabase[Doc]
MongoClient = AsyncMongoClient[Doc]

TTL_INDEX = "timestamp_ttl"
_NAMESPACE_EXISTS = 48


class TelemetryLayout(StrEnum):
    TIME_SERIES = "time_series"
    PLAIN = "plain"


@dataclass(frozen=True)
class StoreInfo:
    """What `init_store` found or made."""

    server: str  # e.g. "secantus 0.7.0b3" or "mongodb 8.0.4"
    layout: TelemetryLayout
    retention_s: int
    # False where the server keeps readings past the retention (SecantusDB): then
    # `vpp.store.retention.prune_telemetry` must run.
    retention_enforced: bool


def mongo_client(mongo: MongoSettings, *, server_selection_timeout_ms: int = 5_000) -> MongoClient:
    """A client for the platform's store: timezone-aware datetimes, a short server
    selection timeout so an outage surfaces as an error within seconds, not 30 s."""
    return AsyncMongoClient(
        mongo.effective_uri,
        tz_aware=True,
        serverSelectionTimeoutMS=server_selection_timeout_ms,
    )


async def init_store(db: Database, mongo: MongoSettings) -> StoreInfo:
    """Create the telemetry collection if needed, then bind the Beanie documents."""
    info = await ensure_telemetry_collection(db, mongo.telemetry_retention_days * 86_400)
    await init_beanie(database=db, document_models=DOCUMENT_MODELS)
    log.info(
        "store ready: %s, telemetry %s, retention %d days (%s)",
        info.server,
        info.layout.value,
        mongo.telemetry_retention_days,
        "enforced by the server" if info.retention_enforced else "pruned by ingest",
    )
    return info


async def server_name(db: Database) -> tuple[str, bool]:
    """A readable server name and whether it is SecantusDB."""
    build = await db.command("buildInfo")
    if "secantusVersion" in build:
        return f"secantus {build['secantusVersion']}", True
    return f"mongodb {build.get('version', '?')}", False


async def ensure_telemetry_collection(db: Database, retention_s: int) -> StoreInfo:
    """The telemetry collection with its unique key and retention; idempotent, and safe
    when several ingesters start at once."""
    server, secantus = await server_name(db)
    options = await _collection_options(db, TELEMETRY)
    if options is None:
        options = await _create(db, retention_s)
    layout = TelemetryLayout.TIME_SERIES if "timeseries" in options else TelemetryLayout.PLAIN
    coll = db[TELEMETRY]
    await coll.create_index(TELEMETRY_KEY, name=TELEMETRY_KEY_INDEX, unique=True)
    if layout is TelemetryLayout.TIME_SERIES:
        if options.get("expireAfterSeconds") != retention_s:
            await db.command({"collMod": TELEMETRY, "expireAfterSeconds": retention_s})
        enforced = not secantus
    elif secantus:
        enforced = False
    else:
        await _ensure_ttl_index(db, retention_s)
        enforced = True
    return StoreInfo(server, layout, retention_s, enforced)


async def _collection_options(db: Database, name: str) -> dict[str, Any] | None:
    async for info in await db.list_collections(filter={"name": name}):
        options: dict[str, Any] = info.get("options", {})
        return options
    return None


async def _create(db: Database, retention_s: int) -> dict[str, Any]:
    ts = StoredTelemetry.Settings.timeseries
    query = ts.build_query(TELEMETRY)
    query["expireAfterSeconds"] = retention_s
    try:
        await db.create_collection(**query)
        try:
            await db[TELEMETRY].create_index(TELEMETRY_KEY, name=TELEMETRY_KEY_INDEX, unique=True)
        except OperationFailure as exc:
            # A real mongod: no unique index on a time series. Nothing is stored yet.
            log.info("time series refuses a unique key (%s); using a plain collection", exc)
            await db.drop_collection(TELEMETRY)
            await db.create_collection(TELEMETRY)
    except (CollectionInvalid, OperationFailure) as exc:
        code = getattr(exc, "code", None)
        if code not in (None, _NAMESPACE_EXISTS):
            raise
        log.info("telemetry collection created concurrently; using it")
    options = await _collection_options(db, TELEMETRY)
    if options is None:
        raise RuntimeError("telemetry collection vanished right after creation")
    return options


async def _ensure_ttl_index(db: Database, retention_s: int) -> None:
    coll = db[TELEMETRY]
    indexes = await coll.index_information()
    current = indexes.get(TTL_INDEX)
    if current is None:
        await coll.create_index("timestamp", name=TTL_INDEX, expireAfterSeconds=retention_s)
    elif current.get("expireAfterSeconds") != retention_s:
        await db.command(
            {"collMod": TELEMETRY, "index": {"name": TTL_INDEX, "expireAfterSeconds": retention_s}}
        )
