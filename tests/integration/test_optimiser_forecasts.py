"""The optimiser's forecast read on the real store: the newest forecast of every node's
load and PV, whether the newest cycles have it, a node's own older one does, or a whole
late cycle sends the read back; never one past its age."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from vpp.config import Settings
from vpp.ml.forecast.documents import FORECASTS
from vpp.optimize.fleet import NodeForecast, latest_forecasts
from vpp.store.database import Database, mongo_client
from vpp.workers.ml import init_forecast_store

NOW = datetime.now(UTC).replace(microsecond=0)
HOURS = 24


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    client = mongo_client(settings.mongo)
    db = client[f"vpp_test_optimiser_forecasts_{uuid.uuid4().hex[:8]}"]
    await init_forecast_store(db)
    yield db
    await client.drop_database(db.name)
    await client.close()


async def issue(db: Database, minutes_ago: int, nodes: list[str], *targets: str) -> str:
    """One cycle's forecasts of `nodes`, each step's median the cycle's age in minutes."""
    cycle_id = f"cycle-{minutes_ago}"
    issued = NOW - timedelta(minutes=minutes_ago)
    start = issued.replace(minute=0, second=0)
    await db[FORECASTS].insert_many(
        [
            {
                "cycle_id": cycle_id,
                "series_id": node,
                "target": target,
                "issued_at": issued,
                "start": start,
                "step_minutes": 60,
                "q10": [0.0] * HOURS,
                "q50": [float(minutes_ago)] * HOURS,
                "q90": [1000.0] * HOURS,
                "model_name": "lightgbm",
                "fallback": False,
            }
            for node in nodes
            for target in targets or ("load_kw", "pv_kw")
        ]
    )
    return cycle_id


def ages(found: dict[str, NodeForecast]) -> dict[str, tuple[str, float | None, float | None]]:
    """Each node's cycle and the age of its load and PV forecasts (their first median)."""
    return {
        node: (f.cycle_id, f.load_kw[0] if f.load_kw else None, f.pv_kw[0] if f.pv_kw else None)
        for node, f in found.items()
    }


async def test_the_newest_cycle_wins_and_skipped_nodes_get_their_own_newest(db: Database) -> None:
    fleet = [f"n-{i}" for i in range(10)]
    await issue(db, 5, fleet[:8])  # the newest cycle skipped n-8 and n-9
    await issue(db, 20, fleet[:8])
    await issue(db, 50, fleet[:9])
    await issue(db, 95, ["n-9"], "load_kw")  # n-9's PV newer than its load
    await issue(db, 80, ["n-9"], "pv_kw")
    await issue(db, 200, ["n-9"])  # past the 3 h a forecast is used

    found = await latest_forecasts(db, set(fleet) | {"n-gone"}, NOW)

    assert ages(found) == {
        **dict.fromkeys(fleet[:8], ("cycle-5", 5.0, 5.0)),
        "n-8": ("cycle-50", 50.0, 50.0),
        # Each target its own newest; the forecast is named by its load's cycle.
        "n-9": ("cycle-95", 95.0, 80.0),
    }
    # Only the asked nodes, and none with no forecast at all.
    assert "n-gone" not in found


async def test_a_late_cycle_sends_the_whole_fleet_back_to_the_one_before(db: Database) -> None:
    fleet = [f"n-{i}" for i in range(60)]
    await issue(db, 70, fleet)
    await issue(db, 100, fleet)
    await issue(db, 10, fleet[:2])  # a cycle that got no further than two nodes

    found = await latest_forecasts(db, set(fleet), NOW)

    assert ages(found) == {
        **dict.fromkeys(fleet[2:], ("cycle-70", 70.0, 70.0)),
        **dict.fromkeys(fleet[:2], ("cycle-10", 10.0, 10.0)),
    }


async def test_nothing_older_than_the_age_asked(db: Database) -> None:
    await issue(db, 50, ["n-1"])
    await issue(db, 5, ["n-2"])

    await issue(db, 25, ["n-3"])

    found = await latest_forecasts(db, {"n-1", "n-2", "n-3"}, NOW, max_age=timedelta(minutes=40))
    assert ages(found) == {"n-2": ("cycle-5", 5.0, 5.0), "n-3": ("cycle-25", 25.0, 25.0)}
    # The envelope's two cycles: nothing is asked beyond them.
    found = await latest_forecasts(db, {"n-1", "n-2", "n-3"}, NOW, max_age=timedelta(minutes=20))
    assert ages(found) == {"n-2": ("cycle-5", 5.0, 5.0)}
