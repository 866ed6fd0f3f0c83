"""The automation, decisions and forecasts over GraphQL with real Keycloak tokens: only an
admin switches the automation (a refusal changes nothing), every role reads it, decisions
page newest first, forecasts come with their quantile bands, the newest stored backtest is
the forecast metrics, and the flexibility envelope follows a home's forecast net load."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from tests.integration.api_support import RUN, Tokens, publish_live, reading
from tests.integration.hour_turn import clear_of_the_hour_turn
from tests.integration.test_api_graphql import CREATE, gql, node_input
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import get_settings
from vpp.ml.forecast.command import forecast_app
from vpp.ml.forecast.documents import BACKTESTS, FLEET_SERIES, FORECASTS, HISTORY
from vpp.ml.forecast.history import day_documents, replace_days
from vpp.optimize.documents import AUTOMATION, DECISIONS, SWITCH_ID, DecisionRecord
from vpp.optimize.models import GuardChange, GuardRule

AUTOMATION_QUERY = "{ automation { enabled dryRun updatedBy cycleMinutes schedulesError } }"
SET = (
    "mutation($on: Boolean, $dry: Boolean) { setAutomation(enabled: $on, dryRun: $dry) "
    "{ enabled dryRun updatedBy } }"
)


@pytest.fixture
async def state(api: FastAPI) -> AsyncIterator[ApiState]:
    st: ApiState = api.state.vpp
    await st.db[AUTOMATION].delete_one({"_id": SWITCH_ID})
    yield st
    await st.db[AUTOMATION].delete_one({"_id": SWITCH_ID})
    await st.db[DECISIONS].delete_many({"cycle_id": {"$regex": f"^{RUN}"}})
    await st.db[FORECASTS].delete_many({"series_id": {"$regex": f"^{RUN}"}})


async def test_only_an_admin_switches_the_automation_and_every_role_reads_it(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    viewer = await tokens.headers("viewer")
    before = (await gql(client, AUTOMATION_QUERY, headers=viewer)).json()["data"]["automation"]
    assert before == {
        "enabled": True,
        "dryRun": False,
        "updatedBy": None,
        "cycleMinutes": 15,
        "schedulesError": None,
    }
    for role in ("viewer", "operator"):
        refused = await gql(client, SET, {"on": False}, await tokens.headers(role))
        body = refused.json()
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    still = (await gql(client, AUTOMATION_QUERY, headers=viewer)).json()["data"]["automation"]
    assert still == before

    admin = await tokens.headers("admin")
    off = await gql(client, SET, {"on": False}, admin)
    assert off.json()["data"]["setAutomation"] == {
        "enabled": False,
        "dryRun": False,
        "updatedBy": "vpp-admin",
    }
    dry = await gql(client, SET, {"dry": True}, admin)
    assert dry.json()["data"]["setAutomation"]["dryRun"] is True
    assert dry.json()["data"]["setAutomation"]["enabled"] is False  # kept
    stored = await state.db[AUTOMATION].find_one({"_id": SWITCH_ID})
    assert stored is not None
    assert (stored["enabled"], stored["dry_run"]) == (False, True)

    nothing = await gql(client, SET, {}, admin)
    assert nothing.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_schedules_are_named_and_an_unknown_one_is_bad_input(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    admin = await tokens.headers("admin")
    unknown = await gql(
        client, 'mutation { runSchedule(scheduleId: "nope") { enabled } }', None, admin
    )
    error = unknown.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "optimize-cycle" in error["extensions"]["fields"][0]["message"]


async def test_decisions_page_newest_first_with_the_guards_reasons(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    cycle = f"{RUN}-cycle"
    now = datetime.now(UTC).replace(microsecond=0)
    for n in range(3):
        record = DecisionRecord(
            cycle_id=cycle,
            dc_id=f"{RUN}-d{n}",
            decided_at=now + timedelta(seconds=n),
            policy="rule-based",
            raw_action=0.5,
            requested_kw=5.0,
            kw=2.0,
            action="charge",
            changes=[
                GuardChange(rule=GuardRule.SOC, reason="soc 85%", kw_before=5.0, kw_after=2.0)
            ],
        )
        doc = {"_id": f"{cycle}:{record.dc_id}", **record.model_dump()}
        await state.db[DECISIONS].insert_one(doc)
    query = """query($c: String!, $after: String) {
      decisions(cycleId: $c, first: 2, after: $after) {
        edges { node { dcId kw action changes { rule reason kwBefore kwAfter } } }
        pageInfo { hasNextPage endCursor }
      }
    }"""
    viewer = await tokens.headers("viewer")
    first = (await gql(client, query, {"c": cycle}, viewer)).json()["data"]["decisions"]
    assert [e["node"]["dcId"] for e in first["edges"]] == [f"{RUN}-d2", f"{RUN}-d1"]
    assert first["edges"][0]["node"]["changes"] == [
        {"rule": "SOC", "reason": "soc 85%", "kwBefore": 5.0, "kwAfter": 2.0}
    ]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await gql(client, query, {"c": cycle, "after": first["pageInfo"]["endCursor"]}, viewer)
    page = rest.json()["data"]["decisions"]
    assert [e["node"]["dcId"] for e in page["edges"]] == [f"{RUN}-d0"]
    assert page["pageInfo"]["hasNextPage"] is False


async def test_forecasts_come_with_their_quantile_bands(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    series = f"{RUN}-f1"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await state.db[FORECASTS].insert_one(
        {
            "cycle_id": f"{RUN}-fc",
            "series_id": series,
            "target": "load_kw",
            "issued_at": start,
            "start": start,
            "step_minutes": 60,
            "q10": [1.0] * 24,
            "q50": [2.0] * 24,
            "q90": [3.0] * 24,
            "model_name": "load_kw-lightgbm",
            "model_version": 4,
            "model_kind": "lightgbm",
            "history_end": start,
        }
    )
    query = """query($s: ID!) { forecasts(seriesId: $s) {
        target model fallbackReason issuedAt staleAfter nodes points { at p10 p50 p90 } } }"""
    found = await gql(client, query, {"s": series}, await tokens.headers("viewer"))
    (forecast,) = found.json()["data"]["forecasts"]
    assert forecast["target"] == "LOAD"
    assert forecast["model"] == "load_kw-lightgbm v4"
    assert forecast["fallbackReason"] is None
    assert forecast["nodes"] is None  # a node's own forecast sums no nodes
    # Two cycles of the test settings' 15 minutes: a newer forecast is due by then.
    assert forecast["staleAfter"] == (start + timedelta(minutes=30)).isoformat()
    assert len(forecast["points"]) == 24
    assert all(p["p10"] <= p["p50"] <= p["p90"] for p in forecast["points"])


async def test_the_fleets_forecast_says_how_many_nodes_it_sums(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    """The cycle forecasts the sum of the nodes with a day of recent history; a node that
    has just joined is not in it, and the dashboard must not show it as the whole fleet."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    doc = forecast_doc("fleet", "load_kw", start, [12.0] * 24) | {"nodes": 10}
    await state.db[FORECASTS].insert_one(doc)
    try:
        query = """{ forecasts(seriesId: "fleet", target: LOAD) { seriesId nodes } }"""
        found = await gql(client, query, None, await tokens.headers("viewer"))
        assert found.json()["data"]["forecasts"] == [{"seriesId": "fleet", "nodes": 10}]
    finally:
        await state.db[FORECASTS].delete_one({"_id": doc["_id"]})


async def test_a_horizon_cuts_the_forecast_to_its_first_hours(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    series = f"{RUN}-f2"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await state.db[FORECASTS].insert_one(forecast_doc(series, "pv_kw", start, [1.0] * 24))
    query = """query($s: ID!, $h: Int) { forecasts(seriesId: $s, target: PV, horizon: $h) {
        points { at p50 } } }"""
    viewer = await tokens.headers("viewer")
    (six,) = (await gql(client, query, {"s": series, "h": 6}, viewer)).json()["data"]["forecasts"]
    assert [p["at"] for p in six["points"]] == [
        (start + timedelta(hours=k)).isoformat() for k in range(6)
    ]
    (whole,) = (await gql(client, query, {"s": series}, viewer)).json()["data"]["forecasts"]
    assert len(whole["points"]) == 24
    bad = (await gql(client, query, {"s": series, "h": 0}, viewer)).json()
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "between 1 and 168" in bad["errors"][0]["message"]


def forecast_doc(series: str, target: str, start: datetime, q50: list[float]) -> dict[str, object]:
    return {
        "cycle_id": f"{RUN}-fc",
        "series_id": series,
        "target": target,
        "issued_at": datetime.now(UTC),  # the hour may have begun longer ago than a cycle
        "start": start,
        "step_minutes": 60,
        "q10": [0.8 * v for v in q50],
        "q50": q50,
        "q90": [1.2 * v + 0.1 for v in q50],
        "model_name": f"{target}-lightgbm",
        "model_version": 1,
        "model_kind": "lightgbm",
        "history_end": start,
    }


async def test_the_envelope_gives_up_kw_only_where_the_home_draws_more_than_its_pv(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState, names: RedisNames
) -> None:
    """A home's 5 kW / 20 kWh battery at 50 % (8 kWh above the 10 % floor, 7.2 after
    losses): with zero export (the default) it gives its forecast net load, capped at 5 kW,
    and nothing in the PV surplus; it can take 5 kW every hour (8 kWh of room, 8.9 before
    losses). Left alone it covers that load itself, so by the fifth hour 0.63 kWh is left
    (7.2 - 2 - 5, + 3 x 0.81 stored from the surplus, - 2), and then nothing. A home
    whose newest forecast is older than two forecast cycles gives nothing.
    Other tests' nodes still online are data centres: each gives the same kW every hour,
    so across all kinds the hours' differences are the home's alone; asked for homes
    only, the envelope is the home's."""
    dc_id, stale = f"{RUN}-flex", f"{RUN}-flex-stale"
    admin = await tokens.headers("admin")
    for node in (dc_id, stale):
        created = await gql(
            client,
            CREATE,
            {"input": node_input(node, kind="HOME_DER", capacityKw=5.0, batteryKwh=20.0)},
            admin,
        )
        assert "errors" not in created.json(), created.json()
    await clear_of_the_hour_turn(margin_s=30)  # the envelope starts at the API's hour
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    load = [3.0, 7.0, 1.0] + [2.0] * 21
    pv = [1.0, 0.0, 4.0] + [0.0] * 21
    for target, values in (("load_kw", load), ("pv_kw", pv)):
        await state.db[FORECASTS].insert_one(forecast_doc(dc_id, target, hour, values))
        # The fleet's own forecast: its net load rides along (removed with the cycle's id).
        await state.db[FORECASTS].insert_one(
            forecast_doc(FLEET_SERIES, target, hour, [10 * v for v in values])
        )
        old = forecast_doc(stale, target, hour, values) | {
            "issued_at": datetime.now(UTC) - timedelta(hours=1)
        }
        await state.db[FORECASTS].insert_one(old)
    await publish_live(state.redis, names, [reading(n, soc=50.0) for n in (dc_id, stale)])
    query = """{ flexibility { nodes forecastNodes
        hours { at upKw downKw upKwh downKwh netLoadKw } } }"""
    try:
        body = (await gql(client, query, None, await tokens.headers("viewer"))).json()
    finally:
        await state.db[FORECASTS].delete_many({"series_id": FLEET_SERIES, "cycle_id": f"{RUN}-fc"})
    assert "errors" not in body, body
    flex = body["data"]["flexibility"]
    assert flex["forecastNodes"] == 1
    assert [h["netLoadKw"] for h in flex["hours"][:3]] == pytest.approx([20.0, 70.0, -30.0])
    hours = flex["hours"]
    assert len(hours) == 24
    assert hours[0]["at"] == hour.isoformat()
    up = [h["upKw"] for h in hours[:4]]
    assert [u - up[2] for u in up] == pytest.approx([2.0, 5.0, 0.0, 2.0])
    assert up[2] >= 0.0
    kwh = [h["upKwh"] for h in hours]
    assert kwh == sorted(kwh)  # a run of calls only adds
    assert all(h["downKw"] >= 10.0 for h in hours)  # both homes can take 5 kW
    homes_only = """{ flexibility(kind: HOME_DER) { forecastNodes hours { upKw upKwh } } }"""
    body = (await gql(client, homes_only, None, await tokens.headers("viewer"))).json()
    assert "errors" not in body, body
    homes = body["data"]["flexibility"]["hours"][:6]
    assert [h["upKw"] for h in homes] == pytest.approx([2.0, 5.0, 0.0, 2.0, 0.63, 0.0])
    # 2 + 5 kWh, then the 7.2 stored now bound a run of calls from now.
    assert [h["upKwh"] for h in homes] == pytest.approx([2.0, 7.0, 7.0, 7.2, 7.2, 7.2])


async def test_forecast_accuracy_scores_the_stored_forecasts_on_the_measured_hours(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    """Yesterday's forecast of a node was exact for 20 of its 24 hours and 1 kW high for
    the rest; the hours a day earlier (its naive) were 2 kW below: MAE 1/6, MASE 1/12."""
    node = f"{RUN}-acc"
    await clear_of_the_hour_turn(margin_s=30)  # "the last day" is the API's
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    measured = [1.0] * 24 + [3.0] * 24  # the day before the forecast's, then its own
    docs = day_documents(node, start - timedelta(days=1), {"load_kw": np.array(measured)}, "test")
    await replace_days(state.db, docs)
    await state.db[FORECASTS].insert_one(
        forecast_doc(node, "load_kw", start, [3.0] * 20 + [4.0] * 4)
    )
    query = """query($s: ID!) { forecastAccuracy(seriesId: $s, target: LOAD) {
        seriesId forecasts unmatched points mae mase naiveMae coverage80 meetsTarget models
        leads { hoursAhead points mae } } }"""
    try:
        body = (await gql(client, query, {"s": node}, await tokens.headers("viewer"))).json()
    finally:
        await state.db[HISTORY].delete_many({"series_id": node})
    assert "errors" not in body, body
    found = body["data"]["forecastAccuracy"]
    assert (found["seriesId"], found["forecasts"], found["points"]) == (node, 1, 24)
    assert found["unmatched"] == 0  # a node's forecast sums no nodes
    assert found["mae"] == pytest.approx(4 / 24)
    assert found["naiveMae"] == pytest.approx(2.0)
    assert found["mase"] == pytest.approx(1 / 12)
    assert found["meetsTarget"] is True
    assert found["models"] == ["load_kw-lightgbm v1"]
    # Inside [0.8 q50, 1.2 q50 + 0.1]: 3 in [2.4, 3.7] yes, 3 in [3.2, 4.9] no.
    assert found["coverage80"] == pytest.approx(20 / 24)
    assert [lead["mae"] for lead in found["leads"]] == [0.0] * 20 + [1.0] * 4


METRICS = """query($t: ForecastTarget) { forecastMetrics(target: $t) {
    testFrom testUntil horizonHours strideHours buildings
    rows { target series model mae mase maseWeekly coverage80 origins }
    best { target model mase meetsTarget } } }"""


async def test_forecast_metrics_are_the_newest_stored_backtest(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    """`vpp forecast backtest` stores its table; a viewer reads it, cut to a target."""
    before = datetime.now(UTC)
    get_settings.cache_clear()
    args = ["backtest", "-t", "load_kw", "-m", "seasonal_naive", "--buildings", "1,2"]
    try:
        # The command runs its own event loop: give it a thread.
        result = await asyncio.to_thread(
            CliRunner().invoke, forecast_app, [*args, "--stride", "97"]
        )
        assert result.exit_code == 0, result.output
        assert f"stored in {BACKTESTS}" in result.output
        viewer = await tokens.headers("viewer")
        body = (await gql(client, METRICS, {"t": "LOAD"}, viewer)).json()
        assert "errors" not in body, body
        m = body["data"]["forecastMetrics"]
        assert (m["testFrom"], m["testUntil"]) == (
            "2017-05-01T00:00:00+00:00",
            "2017-07-31T23:00:00+00:00",
        )
        assert (m["horizonHours"], m["strideHours"], m["buildings"]) == (24, 97, [1, 2])
        assert [(r["series"], r["model"]) for r in m["rows"]] == [
            ("2 homes", "SEASONAL_NAIVE"),
            ("fleet", "SEASONAL_NAIVE"),
        ]
        # The naive against itself: MASE 1 by definition, whatever the data.
        assert all(r["mase"] == pytest.approx(1.0) and r["origins"] > 0 for r in m["rows"])
        assert m["best"] == [
            {
                "target": "LOAD",
                "model": "SEASONAL_NAIVE",
                "mase": pytest.approx(1.0),
                "meetsTarget": False,
            }
        ]
        pv = (await gql(client, METRICS, {"t": "PV"}, viewer)).json()["data"]["forecastMetrics"]
        assert (pv["rows"], pv["best"]) == ([], [])
        # A validation run is for choosing settings: it is not stored.
        validation = await asyncio.to_thread(
            CliRunner().invoke, forecast_app, [*args, "--stride", "301", "--validation"]
        )
        assert validation.exit_code == 0, validation.output
        again = (await gql(client, METRICS, {"t": "LOAD"}, viewer)).json()
        assert again["data"]["forecastMetrics"]["strideHours"] == 97
    finally:
        get_settings.cache_clear()
        await state.db[BACKTESTS].delete_many({"ran_at": {"$gte": before}})


async def test_forecast_metrics_are_null_before_any_backtest(
    client: httpx.AsyncClient, tokens: Tokens, state: ApiState
) -> None:
    if await state.db[BACKTESTS].count_documents({}):
        pytest.fail("a backtest was left in the store by an earlier test")
    body = (await gql(client, METRICS, {}, await tokens.headers("viewer"))).json()
    assert body == {"data": {"forecastMetrics": None}}
