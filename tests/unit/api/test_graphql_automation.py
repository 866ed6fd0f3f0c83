"""The automation and forecast fields without servers: who may change the automation, and
bad arguments refused before any store is touched (the state has no clients, so a
resolver that reached one would fail with INTERNAL_SERVER_ERROR, not the code asserted)."""

from __future__ import annotations

import pytest

from tests.unit.api.test_graphql_schema import codes, principal, run
from vpp.api.auth import Role

ADMIN_MUTATIONS = [
    "setAutomation(enabled: false) { enabled }",
    "setAutomation(dryRun: true) { dryRun }",
    'pauseSchedule(scheduleId: "optimize-cycle", paused: true) { enabled }',
    'runSchedule(scheduleId: "optimize-cycle") { enabled }',
]


@pytest.mark.parametrize("mutation", ADMIN_MUTATIONS)
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_automation_mutations_need_admin(mutation: str, role: Role) -> None:
    result = await run(f"mutation {{ {mutation} }}", principal(role))
    assert codes(result) == ["FORBIDDEN"]
    assert result.errors[0].message == "this needs role admin"
    assert result.data is None


@pytest.mark.parametrize(
    "query",
    [
        "{ automation { enabled } }",
        "{ decisions { edges { cursor } } }",
        "{ forecasts { seriesId } }",
        "{ models { name } }",
        "{ flexibility { nodes } }",
        "{ forecastMetrics { ranAt } }",
        "{ forecastAccuracy(target: LOAD) { points } }",
    ],
)
async def test_automation_and_forecast_reads_need_a_platform_role(query: str) -> None:
    assert codes(await run(query, principal())) == ["FORBIDDEN"]
    assert codes(await run(query)) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('{ decisions(dcId: "no/slash") { edges { cursor } } }', "dcId"),
        ("{ decisions(first: 0) { edges { cursor } } }", "first"),
        ('{ decisions(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }', "after"),
        ('{ forecasts(seriesId: "no/slash") { seriesId } }', "seriesId"),
        ("{ forecasts(horizon: 0) { seriesId } }", "horizon"),
        ("{ forecasts(horizon: 169) { seriesId } }", "horizon"),
        ("{ models(last: 0) { name } }", "last"),
        ('{ forecastAccuracy(target: PV, seriesId: "a b") { points } }', "seriesId"),
        ("{ forecastAccuracy(target: PV, days: 0) { points } }", "days"),
        ("{ forecastAccuracy(target: LOAD, days: 8) { points } }", "days"),
    ],
)
async def test_bad_arguments_are_bad_user_input(query: str, field: str) -> None:
    result = await run(query, principal(Role.VIEWER))
    assert codes(result) == ["BAD_USER_INPUT"]
    assert [f["field"] for f in result.errors[0].extensions["fields"]] == [field]


async def test_an_unknown_target_is_bad_user_input() -> None:
    result = await run("{ forecasts(target: VOLTAGE) { seriesId } }", principal(Role.VIEWER))
    assert codes(result) == ["BAD_USER_INPUT"]
