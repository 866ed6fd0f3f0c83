"""Stored forecasts scored against the hourly history on the real store: a forecast that
was right scores 0, one that repeated yesterday scores MASE 1, only ended and measured
hours count, the newest forecast of a first hour replaces the older, the fleet is scored
against its nodes' sum, and bad arguments are refused before the store is read."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from tests.integration.forecast_support import fdb
from vpp.ml.forecast.documents import FLEET_SERIES, FORECASTS
from vpp.ml.forecast.history import day_documents, replace_days
from vpp.ml.forecast.settings import ForecastSettings, Target
from vpp.services.errors import InvalidInputError
from vpp.services.forecast_accuracy import forecast_accuracy
from vpp.store.database import Database

__all__ = ["fdb"]

SETTINGS = ForecastSettings()
DAY = datetime(2026, 11, 20, tzinfo=UTC)  # the day forecast; the day before is its naive
HOURS = 48


def measured(shift: float) -> list[float]:
    """Two days of an hourly load: a daily shape whose level moves from day to day, in
    the history's precision (5 decimals)."""
    shape = [1.0 + shift + 0.5 * math.sin(h / 24 * 2 * math.pi) for h in range(HOURS)]
    return [round(v + 0.3 * (h // 24), 5) for h, v in enumerate(shape)]


def history(values: Sequence[float | None]) -> dict[str, npt.NDArray[np.float64]]:
    """A load channel for the history, NaN where an hour was not measured."""
    return {"load_kw": np.array([np.nan if v is None else v for v in values])}


async def write_history(db: Database, node: str, values: Sequence[float | None]) -> None:
    docs = day_documents(node, DAY - timedelta(days=1), history(values), "telemetry")
    await replace_days(db, docs)


def forecast(
    series: str, q50: list[float], *, issued: datetime | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "cycle_id": f"cycle-{series}-{(issued or DAY).isoformat()}",
        "series_id": series,
        "target": "load_kw",
        "issued_at": issued or DAY,
        "start": DAY,
        "step_minutes": 60,
        "q10": [v - 0.2 for v in q50],
        "q50": q50,
        "q90": [v + 0.2 for v in q50],
        "model_name": "load_kw-lightgbm",
        "model_version": 3,
        "model_kind": "lightgbm",
        "history_end": DAY,
    } | extra


async def score(db: Database, series: str, now: datetime, days: int = 1) -> Any:
    return await forecast_accuracy(
        db, SETTINGS, series_id=series, target=Target.LOAD, days=days, now=now
    )


async def test_a_forecast_that_was_right_scores_zero_and_one_that_repeated_yesterday_one(
    fdb: Database,
) -> None:
    values = measured(0.0)
    await write_history(fdb, "acc-right", values)
    await write_history(fdb, "acc-naive", values)
    await fdb[FORECASTS].insert_many(
        [forecast("acc-right", values[24:]), forecast("acc-naive", values[:24])]
    )
    after = DAY + timedelta(days=1, minutes=5)

    right = await score(fdb, "acc-right", after)
    assert (right.forecasts, right.points, right.fallbacks) == (1, 24, 0)
    assert (right.mae, right.mase, right.coverage_80) == (0.0, 0.0, 1.0)
    assert right.models == ["load_kw-lightgbm v3"]
    assert [lead.hours_ahead for lead in right.leads] == list(range(24))
    assert all(lead.points == 1 and lead.mase == 0.0 for lead in right.leads)

    naive = await score(fdb, "acc-naive", after)
    assert naive.mase == pytest.approx(1.0)
    assert naive.mae == pytest.approx(0.3)  # the day-to-day step of the measured level
    assert naive.mae == pytest.approx(naive.naive_mae)
    assert naive.coverage_80 == 0.0  # 0.3 off, outside a band of +-0.2


async def test_only_hours_that_have_ended_and_were_measured_are_scored(fdb: Database) -> None:
    values = measured(1.0)
    gap: list[float | None] = [*values]
    gap[24 + 3] = None  # hour 3 of the forecast day never reached the history
    await write_history(fdb, "acc-partial", gap)
    await fdb[FORECASTS].insert_one(forecast("acc-partial", values[24:]))

    mid_hour_10 = DAY + timedelta(hours=10, minutes=30)
    found = await score(fdb, "acc-partial", mid_hour_10)
    assert found.until == DAY + timedelta(hours=10)
    assert found.points == 9  # hours 0-9 have ended; hour 3 is unknown
    assert [lead.hours_ahead for lead in found.leads] == [0, 1, 2, 4, 5, 6, 7, 8, 9]

    before_it_began = await score(fdb, "acc-partial", DAY + timedelta(minutes=59))
    assert (before_it_began.forecasts, before_it_began.points) == (0, 0)
    assert before_it_began.mae is None
    assert before_it_began.mase is None
    assert before_it_began.leads == []


async def test_the_newest_forecast_of_a_first_hour_is_the_one_scored(fdb: Database) -> None:
    values = measured(2.0)
    await write_history(fdb, "acc-newest", values)
    older = forecast("acc-newest", values[24:], issued=DAY)
    newer = forecast(
        "acc-newest",
        values[:24],
        issued=DAY + timedelta(minutes=15),
        model_name="seasonal_naive",
        model_version=None,
        model_kind="seasonal_naive",
        fallback=True,
        fallback_reason="no champion model for load_kw in the registry",
    )
    # Quarter-hour steps do not line up with the hourly history: never scored.
    quarterly = forecast("acc-newest", [0.0] * 96, issued=DAY + timedelta(minutes=30))
    quarterly["step_minutes"] = 15
    await fdb[FORECASTS].insert_many([newer, older, quarterly])  # stored out of order

    found = await score(fdb, "acc-newest", DAY + timedelta(days=2), days=2)
    assert (found.forecasts, found.fallbacks, found.points) == (1, 1, 24)
    assert found.models == ["seasonal_naive"]
    assert found.mase == pytest.approx(1.0)


@asynccontextmanager
async def two_node_fleet(
    fdb: Database, name: str
) -> AsyncIterator[tuple[Database, list[float], list[float]]]:
    """A store of its own whose only nodes are `acc-<name>-a` and `-b`, both measured: it,
    the first node's hours and the two's sum."""
    db = fdb.client[f"{fdb.name}_{name}"]
    try:
        a, b = measured(0.0), measured(0.5)
        await write_history(db, f"acc-{name}-a", a)
        await write_history(db, f"acc-{name}-b", b)
        yield db, a, [x + y for x, y in zip(a, b, strict=True)]
    finally:
        await fdb.client.drop_database(db.name)


async def test_the_fleet_is_scored_against_its_nodes_sum(fdb: Database) -> None:
    async with two_node_fleet(fdb, "fleet") as (db, _, total):
        await db[FORECASTS].insert_one(forecast(FLEET_SERIES, total[24:]))
        after = DAY + timedelta(days=1)

        found = await score(db, FLEET_SERIES, after)
        assert (found.points, found.mae, found.mase) == (24, 0.0, 0.0)

        # A node measured for less than a day of the period is no member: the cycle does
        # not forecast it, so its hours neither add to the sum nor leave the others out.
        joined = [None] * (HOURS - 3) + [5.0, 5.0, 5.0]
        await replace_days(
            db, day_documents("acc-fleet-new", DAY - timedelta(days=1), history(joined), "t")
        )
        assert (await score(db, FLEET_SERIES, after)).points == 24

        # One node's hour is missing: the sum would be short, so the hour is not scored.
        await db["history_hourly"].update_one(
            {"series_id": "acc-fleet-b", "day": DAY}, {"$set": {"channels.load_kw.5": None}}
        )
        assert (await score(db, FLEET_SERIES, after)).points == 23


async def test_a_fleet_forecast_of_another_number_of_nodes_is_not_scored(fdb: Database) -> None:
    """A cycle that ran before a node had its day of history summed one node fewer than
    the fleet measured since: scored against the larger sum, the missing node's load would
    count as its error, so it is counted as unmatched instead."""
    async with two_node_fleet(fdb, "nodes") as (db, a, total):
        after = DAY + timedelta(days=1)

        await db[FORECASTS].insert_one(forecast(FLEET_SERIES, a[24:], nodes=1))
        short = await score(db, FLEET_SERIES, after)
        assert (short.unmatched, short.forecasts, short.points) == (1, 0, 0)

        # A newer forecast of the same first hour that summed both is the one scored.
        later = DAY + timedelta(minutes=15)
        await db[FORECASTS].insert_one(forecast(FLEET_SERIES, total[24:], issued=later, nodes=2))
        both = await score(db, FLEET_SERIES, after)
        assert (both.unmatched, both.forecasts, both.points, both.mae) == (0, 1, 24, 0.0)


@pytest.mark.parametrize(
    ("series", "days", "field", "message"),
    [
        ("acc-right", 0, "days", "must be between 1 and 7 (forecasts are kept 7 days), not 0"),
        ("acc-right", 8, "days", "must be between 1 and 7 (forecasts are kept 7 days), not 8"),
        ("no/slash", 1, "seriesId", "a node id is 1-64 letters"),
    ],
)
async def test_bad_arguments_are_refused(
    fdb: Database, series: str, days: int, field: str, message: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        await score(fdb, series, DAY, days)
    assert [f.field for f in refused.value.problems] == [field]
    assert message in refused.value.problems[0].message
