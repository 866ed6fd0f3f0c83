"""Fixtures of the forecast integration tests: a database of their own, an ML worker on a
queue of its own with small models, and three homes with 24 days of CityLearn history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from vpp.config import Settings
from vpp.ml.forecast.citylearn_import import Home, import_citylearn
from vpp.ml.forecast.settings import BaselineParams, ForecastSettings, forecast_settings
from vpp.store.database import Database, mongo_client
from vpp.temporal_client import connect
from vpp.workers.ml import MlClients, build_ml_worker, init_forecast_store

HISTORY_DAYS = 24
HOMES = [
    Home(node_id="fc-home-1", n=1, building=1, offset_h=0),
    Home(node_id="fc-home-2", n=2, building=2, offset_h=24),
    Home(node_id="fc-home-3", n=3, building=5, offset_h=-48),
]
HOME_IDS = [h.node_id for h in HOMES]


def small_settings(settings: Settings) -> ForecastSettings:
    """Models that train in seconds on 20 days of 3 homes."""
    fs = forecast_settings(settings).model_copy(deep=True)
    fs.lookback_h = 400
    fs.holdout_days = 2
    fs.train_days = 20
    fs.selection_stride_h = 7
    fs.threads = 1
    fs.lightgbm.n_estimators = 20
    fs.lightgbm.baselines = [BaselineParams(days=7, trim=3), BaselineParams(days=14, trim=4)]
    fs.tide.n_epochs = 1
    fs.tide.hidden_size = 16
    fs.exp_smoothing.fit_window_h = 168
    fs.exp_smoothing.num_samples = 50
    fs.redis_channel = f"test:forecasts:{uuid.uuid4().hex[:8]}"
    return fs


@pytest.fixture(scope="module")
def forecast(settings: Settings) -> ForecastSettings:
    return small_settings(settings)


@pytest.fixture(scope="module")
async def temporal(settings: Settings) -> Client:
    return await connect(settings.temporal)


@pytest.fixture(scope="module")
async def fdb(settings: Settings) -> AsyncIterator[Database]:
    """A database of this module's own: the model registry's champions are per database."""
    client = mongo_client(settings.mongo)
    name = f"vpp_test_forecast_{uuid.uuid4().hex[:8]}"
    db = client[name]
    await init_forecast_store(db)
    yield db
    await client.drop_database(name)
    await client.close()


@pytest.fixture(scope="module")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
async def homes(fdb: Database, forecast: ForecastSettings) -> list[str]:
    await import_citylearn(
        fdb, forecast.data_dir, HOMES, now=datetime.now(UTC), hours=HISTORY_DAYS * 24
    )
    return HOME_IDS


@pytest.fixture(scope="module")
async def ml_queue(
    settings: Settings,
    temporal: Client,
    fdb: Database,
    redis: Redis,
    forecast: ForecastSettings,
) -> AsyncIterator[str]:
    queue = f"test-ml-{uuid.uuid4().hex[:8]}"
    clients = MlClients(mongo=fdb.client, db=fdb, redis=redis)
    worker = build_ml_worker(temporal, settings, clients, task_queue=queue, forecast=forecast)
    async with worker:
        yield queue


def histories_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "unit" / "forecast" / "histories"
