"""The schema without servers: the committed SDL, error codes, permissions, limits and
bad input refused before any store is touched (the state below has no clients: a
resolver reaching one would fail with INTERNAL_SERVER_ERROR, not the code asserted)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson
import pytest
from graphql import FragmentDefinitionNode, parse
from prometheus_client import CollectorRegistry

from vpp.api.auth import Principal, Role
from vpp.api.live.broadcaster import Broadcaster
from vpp.api.metrics import ApiMetrics
from vpp.api.state import ApiState
from vpp.graphql.context import Context
from vpp.graphql.export import sdl
from vpp.graphql.limits import MAX_COST, QueryCost
from vpp.graphql.schema import schema

ROOT = Path(__file__).resolve().parents[3]


def principal(*roles: Role) -> Principal:
    return Principal("sub", "tester", None, frozenset(roles), 4_102_444_800.0)


def bare_state(**fields: Any) -> ApiState:
    """A state whose clients are all missing (None)."""
    defaults: dict[str, Any] = {
        "db": None,
        "redis": None,
        "names": None,
        "settings": SimpleNamespace(ingest=None),
    }
    return cast(ApiState, SimpleNamespace(**(defaults | fields)))


async def run(
    query: str, who: Principal | None = None, variables: dict[str, Any] | None = None
) -> Any:
    return await schema.execute(
        query, variable_values=variables, context_value=Context(bare_state(), who)
    )


def codes(result: Any) -> list[str]:
    assert result.errors, result
    return [e.extensions["code"] for e in result.errors]


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == sdl(), (
        "schema.graphql is stale: python -m vpp.graphql.export > schema.graphql"
    )


async def test_no_principal_is_unauthenticated() -> None:
    assert codes(await run("{ nodes { edges { cursor } } }")) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "mutation",
    [
        'createNode(input: {dcId: "n1", hostname: "h", location: {lat: 1, lon: 2}, '
        "capacityKw: 1, batteryKwh: 1}) { dcId }",
        'updateNode(dcId: "n1", input: {hostname: "x"}) { dcId }',
        'deleteNode(dcId: "n1")',
    ],
)
@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_node_mutations_need_admin(mutation: str, role: Role) -> None:
    result = await run(f"mutation {{ {mutation} }}", principal(role))
    assert codes(result) == ["FORBIDDEN"]
    assert result.errors[0].message == "this needs role admin"
    assert result.data is None


async def test_a_token_without_platform_roles_reads_nothing() -> None:
    assert codes(await run("{ me { name } }", principal())) == ["FORBIDDEN"]


async def test_me_shows_the_caller() -> None:
    result = await run("{ me { name roles } }", principal(Role.OPERATOR, Role.VIEWER))
    assert result.errors is None
    assert result.data == {"me": {"name": "tester", "roles": ["VIEWER", "OPERATOR"]}}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ('{ telemetry(dcId: "n1", last: 0) { soc } }', "last"),
        ('{ telemetry(dcId: "n1", last: 10001) { soc } }', "last"),
        ('{ node(dcId: "no/slash") { dcId } }', "dcId"),
        ("{ nodes(first: 0) { edges { cursor } } }", "first"),
        ('{ nodes(after: "not-a-cursor") { edges { cursor } } }', "after"),
        ('{ nodes(after: "bm9kZQ") { edges { cursor } } }', "after"),
        ("{ aggregate(nodeIds: []) { nodeCount } }", "nodeIds"),
        ('{ aggregate(nodeIds: ["ok", "not ok"]) { nodeCount } }', "nodeIds"),
        (
            '{ telemetryRange(dcId: "n1", from: "2026-01-01T00:00:00", '
            'to: "2026-01-02T00:00:00Z") { pageInfo { hasNextPage } } }',
            "from",
        ),
        (
            '{ telemetryRange(dcId: "n1", from: "2026-01-02T00:00:00Z", '
            'to: "2026-01-01T00:00:00Z") { pageInfo { hasNextPage } } }',
            "to",
        ),
    ],
)
async def test_bad_arguments_are_bad_user_input(query: str, field: str) -> None:
    result = await run(query, principal(Role.VIEWER))
    assert codes(result) == ["BAD_USER_INPUT"]
    assert [f["field"] for f in result.errors[0].extensions["fields"]] == [field]


@pytest.mark.parametrize(
    ("input_", "fields"),
    [
        ("capacityKw: -1, batteryKwh: 1", ["input.capacityKw"]),
        ("capacityKw: 1, batteryKwh: 1e12", ["input.batteryKwh"]),
        ('capacityKw: 1, batteryKwh: 1, hostname: "  "', ["input.hostname"]),
    ],
)
async def test_bad_node_input_is_bad_user_input_with_the_field(
    input_: str, fields: list[str]
) -> None:
    hostname = "" if "hostname" in input_ else 'hostname: "h",'
    query = (
        f'mutation {{ createNode(input: {{dcId: "n1", {hostname} location: {{lat: 1, lon: 2}}, '
        f"{input_}}}) {{ dcId }} }}"
    )
    result = await run(query, principal(Role.ADMIN))
    assert codes(result) == ["BAD_USER_INPUT"]
    assert [f["field"] for f in result.errors[0].extensions["fields"]] == fields


async def test_a_latitude_out_of_range_names_the_nested_field() -> None:
    query = (
        'mutation { createNode(input: {dcId: "n1", hostname: "h", location: {lat: 91, lon: 2},'
        " capacityKw: 1, batteryKwh: 1}) { dcId } }"
    )
    result = await run(query, principal(Role.ADMIN))
    assert result.errors[0].extensions["fields"][0]["field"] == "input.location.lat"


async def test_an_update_with_nothing_to_change_is_bad_user_input() -> None:
    result = await run(
        'mutation { updateNode(dcId: "n1", input: {}) { dcId } }', principal(Role.ADMIN)
    )
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_literal_of_the_wrong_type_is_bad_user_input() -> None:
    result = await run('{ telemetry(dcId: "n1", last: "many") { soc } }', principal(Role.VIEWER))
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_variable_of_the_wrong_type_is_bad_user_input() -> None:
    result = await run(
        'query($n: Int!) { telemetry(dcId: "n1", last: $n) { soc } }',
        principal(Role.VIEWER),
        {"n": "many"},
    )
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_a_bad_enum_value_is_bad_user_input() -> None:
    result = await run(
        'mutation { createNode(input: {dcId: "n1", hostname: "h", location: {lat: 1, lon: 2},'
        " capacityKw: 1, batteryKwh: 1, kind: SPACESHIP}) { dcId } }",
        principal(Role.ADMIN),
    )
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_syntax_and_unknown_fields_are_parse_and_validation_failures() -> None:
    assert codes(await run("{ nodes {", principal(Role.VIEWER))) == ["GRAPHQL_PARSE_FAILED"]
    assert codes(await run("{ reactor { core } }", principal(Role.VIEWER))) == [
        "GRAPHQL_VALIDATION_FAILED"
    ]


async def test_an_unexpected_failure_is_masked() -> None:
    # The bare state has no Redis: the resolver fails in a way no client should see.
    result = await run('{ aggregate(nodeIds: ["n1"]) { nodeCount } }', principal(Role.VIEWER))
    assert codes(result) == ["INTERNAL_SERVER_ERROR"]
    assert result.errors[0].message == "internal server error"


DEEP = "{ nodes { edges { node { live { reading { node { live { reading { node { live { reading" + (
    " { soc }" + " }" * 11
)


async def test_too_deep_a_query_is_refused_before_it_runs() -> None:
    result = await run(DEEP, principal(Role.VIEWER))
    assert codes(result) == ["QUERY_TOO_DEEP"]
    assert "exceeds maximum operation depth of 10" in result.errors[0].message


async def test_too_costly_a_query_is_refused_before_it_runs() -> None:
    aliases = " ".join(f'a{i}: telemetry(dcId: "n1", last: $n) {{ soc }}' for i in range(6))
    result = await run(f"query($n: Int!) {{ {aliases} }}", principal(Role.VIEWER), {"n": 10_000})
    assert codes(result) == ["QUERY_TOO_COSTLY"]
    assert result.errors[0].extensions["cost"] == 6 * 10_001
    assert result.errors[0].extensions["maxCost"] == MAX_COST


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        ("{ nodes(first: 100) { edges { node { dcId live { online } } } } }", {}, 401),
        ("{ nodes { edges { node { dcId } } } }", {}, 1 + 100 * 3),
        ('{ telemetry(dcId: "x", last: 10000) { soc } }', {}, 10_001),
        ('query($n: Int!) { telemetry(dcId: "x", last: $n) { soc } }', {"n": 5}, 6),
        ("{ aggregate { nodeCount } me { name } }", {}, 2),
        (
            "{ nodes(first: 10) { ...N } } "
            "fragment N on NodeConnection { edges { node { dcId } } }",
            {},
            1 + 10 * 3,
        ),
    ],
)
def test_query_cost(query: str, variables: dict[str, Any], cost: int) -> None:
    document = parse(query)
    operation = next(d for d in document.definitions if d.kind == "operation_definition")
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    assert QueryCost(schema._schema, fragments, variables).of_operation(operation) == cost  # type: ignore[arg-type]


async def test_telemetry_subscription_gets_its_nodes_readings_only() -> None:
    metrics = ApiMetrics(CollectorRegistry())
    broadcaster = Broadcaster("test:live", metrics)
    state = bare_state(
        live=SimpleNamespace(telemetry=broadcaster),
        metrics=metrics,
        verifier=SimpleNamespace(leeway_s=30.0),
    )
    stream = await schema.subscribe(
        'subscription { telemetry(dcIds: ["n1", "n3"]) { dcId soc freq } }',
        context_value=Context(state, principal(Role.VIEWER)),
    )
    assert not isinstance(stream, type(None))
    first = asyncio.ensure_future(stream.__anext__())
    await broadcaster.wait_for_subscribers(1)
    reading = {
        "seq": 1,
        "timestamp": "2026-01-01T00:00:00Z",
        "received_at": "2026-01-01T00:00:01Z",
        "soc": 50.0,
        "power_kw": 1.0,
        "freq": 50.0,
    }
    broadcaster.publish_local(orjson.dumps([reading | {"dc_id": "n2"}]))  # not in scope
    broadcaster.publish_local(orjson.dumps([reading | {"dc_id": d} for d in ("n1", "n2", "n3")]))
    result = await asyncio.wait_for(first, 5)
    assert result.errors is None
    assert result.data is not None
    assert [r["dcId"] for r in result.data["telemetry"]] == ["n1", "n3"]
    assert metrics.subscriptions.labels("telemetry")._value.get() == 1
    await stream.aclose()
    assert broadcaster.subscriber_count == 0
    assert metrics.subscriptions.labels("telemetry")._value.get() == 0


async def test_a_subscription_with_dc_id_and_dc_ids_is_bad_user_input() -> None:
    stream = await schema.subscribe(
        'subscription { telemetry(dcId: "n1", dcIds: ["n2"]) { dcId } }',
        context_value=Context(bare_state(), principal(Role.VIEWER)),
    )
    result = await stream.__anext__()
    assert codes(result) == ["BAD_USER_INPUT"]


async def test_a_subscription_ends_once_its_token_has_expired() -> None:
    metrics = ApiMetrics(CollectorRegistry())
    broadcaster = Broadcaster("test:live", metrics)
    state = bare_state(
        live=SimpleNamespace(telemetry=broadcaster),
        metrics=metrics,
        verifier=SimpleNamespace(leeway_s=0.0),
    )
    expired = Principal("sub", "tester", None, frozenset({Role.VIEWER}), 1.0)
    stream = await schema.subscribe(
        "subscription { telemetry { dcId } }", context_value=Context(state, expired)
    )
    first = asyncio.ensure_future(stream.__anext__())
    await broadcaster.wait_for_subscribers(1)
    reading = {
        "dc_id": "n1",
        "seq": 1,
        "timestamp": "2026-01-01T00:00:00Z",
        "received_at": "2026-01-01T00:00:01Z",
        "soc": 50.0,
        "power_kw": 1.0,
        "freq": 50.0,
    }
    broadcaster.publish_local(orjson.dumps([reading]))
    result = await asyncio.wait_for(first, 5)
    assert codes(result) == ["UNAUTHENTICATED"]
    assert result.errors is not None
    assert "expired" in result.errors[0].message
