"""The automation, decisions and forecasts over GraphQL with real Keycloak tokens: only an
admin switches the automation (a refusal changes nothing), every role reads it, decisions
page newest first, forecasts come with their quantile bands."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.api_support import RUN, Tokens
from tests.integration.test_api_graphql import gql
from vpp.api.state import ApiState
from vpp.ml.forecast.documents import FORECASTS
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
        target model fallbackReason points { at p10 p50 p90 } } }"""
    found = await gql(client, query, {"s": series}, await tokens.headers("viewer"))
    (forecast,) = found.json()["data"]["forecasts"]
    assert forecast["target"] == "LOAD"
    assert forecast["model"] == "load_kw-lightgbm v4"
    assert forecast["fallbackReason"] is None
    assert len(forecast["points"]) == 24
    assert all(p["p10"] <= p["p50"] <= p["p90"] for p in forecast["points"])
