"""The seed's REST endpoints against the real servers and real Keycloak tokens: what each
role may do, what every bad input gets (and that it changes nothing), the HTTP telemetry
path, and the aggregate cache shared with GraphQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests.integration.api_support import RUN, Tokens, publish_live, reading
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.store.documents import TELEMETRY


def node_body(dc_id: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dc_id": dc_id,
        "kind": "home_der",
        "hostname": "home-1",
        "location": {"lat": 34.1, "lon": -117.4},
        "capacity_kw": 7.5,
        "battery_kwh": 13.5,
    }
    body.update(fields)
    return body


async def register(client: httpx.AsyncClient, tokens: Tokens, dc_id: str) -> None:
    response = await client.post(
        "/api/nodes", json=node_body(dc_id), headers=await tokens.headers("admin")
    )
    assert response.status_code == 201, response.text


async def exists(client: httpx.AsyncClient, tokens: Tokens, dc_id: str) -> bool:
    response = await client.get(f"/api/nodes/{dc_id}", headers=await tokens.headers("admin"))
    assert response.status_code in (200, 404)
    return response.status_code == 200


CHANGES = [
    ("POST", "/api/nodes", node_body(f"{RUN}-intruder")),
    ("PUT", f"/api/nodes/{RUN}-fixed", {"hostname": "hijacked"}),
    ("DELETE", f"/api/nodes/{RUN}-fixed", None),
]


@pytest.fixture(scope="module")
async def fixed_node(client: httpx.AsyncClient, tokens: Tokens) -> str:
    await register(client, tokens, f"{RUN}-fixed")
    return f"{RUN}-fixed"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
@pytest.mark.parametrize(("method", "path", "body"), CHANGES, ids=["create", "update", "delete"])
async def test_no_or_bad_token_is_401_and_changes_nothing(
    *,
    client: httpx.AsyncClient,
    tokens: Tokens,
    fixed_node: str,
    authorization: str | None,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["success"] is False
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert not await exists(client, tokens, f"{RUN}-intruder")
    fixed = await client.get(f"/api/nodes/{fixed_node}", headers=await tokens.headers("viewer"))
    assert fixed.json()["data"]["hostname"] == "home-1"


async def test_reads_need_a_token_too(client: httpx.AsyncClient) -> None:
    for path in ("/api/nodes", "/api/aggregate", f"/api/telemetry?dc_id={RUN}-fixed"):
        assert (await client.get(path)).status_code == 401


async def test_a_token_of_another_realm_is_401(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The master realm's admin token: another issuer, signed by a key realm vpp does not
    have (the verifier refreshes its keys and still does not find it)."""
    keycloak = settings.keycloak
    async with httpx.AsyncClient() as http:
        grant = await http.post(
            f"{keycloak.url}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": keycloak.admin_username,
                "password": keycloak.admin_password.get_secret_value(),
            },
        )
    assert grant.status_code == 200, grant.text
    token = grant.json()["access_token"]
    response = await client.get("/api/nodes", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "key the realm does not have" in response.json()["error"]


@pytest.mark.parametrize("role", ["viewer", "operator"])
@pytest.mark.parametrize(("method", "path", "body"), CHANGES, ids=["create", "update", "delete"])
async def test_node_changes_need_admin_and_a_refusal_changes_nothing(
    *,
    client: httpx.AsyncClient,
    tokens: Tokens,
    fixed_node: str,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    response = await client.request(method, path, json=body, headers=await tokens.headers(role))
    assert response.status_code == 403
    assert response.json() == {
        "success": False,
        "error": "this needs role admin; the token has "
        + ("operator, viewer" if role == "operator" else "viewer"),
        "code": "FORBIDDEN",
    }
    assert not await exists(client, tokens, f"{RUN}-intruder")
    assert await exists(client, tokens, fixed_node)


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_every_role_reads(
    client: httpx.AsyncClient, tokens: Tokens, fixed_node: str, role: str
) -> None:
    headers = await tokens.headers(role)
    now = datetime.now(UTC)
    reads: list[tuple[str, dict[str, str | int]]] = [
        ("/api/nodes", {"limit": 5}),
        (f"/api/nodes/{fixed_node}", {}),
        ("/api/aggregate", {"nodeIds": fixed_node}),
        ("/api/telemetry", {"dc_id": fixed_node}),
        (
            "/api/telemetry/range",
            {
                "dc_id": fixed_node,
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": now.isoformat(),
            },
        ),
    ]
    for path, params in reads:
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["success"] is True


async def test_viewer_cannot_post_telemetry_and_nothing_is_stored(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI, fixed_node: str
) -> None:
    state: ApiState = api.state.vpp
    before = await state.db[TELEMETRY].count_documents({"dc_id": fixed_node})
    response = await client.post(
        "/api/telemetry", json=reading(fixed_node), headers=await tokens.headers("viewer")
    )
    assert response.status_code == 403
    assert await state.db[TELEMETRY].count_documents({"dc_id": fixed_node}) == before


async def test_admin_manages_a_node_from_creation_to_deletion(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = await tokens.headers("admin")
    dc_id = f"{RUN}-crud"
    created = await client.post("/api/nodes", json=node_body(dc_id), headers=admin)
    assert created.status_code == 201
    assert created.json()["data"]["dc_id"] == dc_id
    again = await client.post("/api/nodes", json=node_body(dc_id), headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "CONFLICT"
    updated = await client.put(
        f"/api/nodes/{dc_id}",
        json={"hostname": "home-2", "location": {"lat": 1.0, "lon": 2.0}},
        headers=admin,
    )
    assert updated.status_code == 200
    data = updated.json()["data"]
    assert (data["hostname"], data["location"], data["capacity_kw"]) == (
        "home-2",
        {"lat": 1.0, "lon": 2.0},
        7.5,
    )
    fetched = await client.get(f"/api/nodes/{dc_id}", headers=admin)
    assert fetched.json()["data"] == data
    deleted = await client.delete(f"/api/nodes/{dc_id}", headers=admin)
    assert deleted.json() == {"success": True, "data": {"dc_id": dc_id}}
    assert (await client.get(f"/api/nodes/{dc_id}", headers=admin)).status_code == 404
    gone = await client.delete(f"/api/nodes/{dc_id}", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["code"] == "NOT_FOUND"


async def test_nodes_are_listed_a_page_at_a_time(client: httpx.AsyncClient, tokens: Tokens) -> None:
    from vpp.services.nodes import node_cursor

    viewer = await tokens.headers("viewer")
    for n in range(3):
        await register(client, tokens, f"{RUN}-page-{n}")
    start = node_cursor(f"{RUN}-page-")  # just before this test's nodes
    first = await client.get("/api/nodes", params={"limit": 2, "after": start}, headers=viewer)
    body = first.json()
    assert [n["dc_id"] for n in body["data"]] == [f"{RUN}-page-0", f"{RUN}-page-1"]
    assert body["next_cursor"]
    second = await client.get(
        "/api/nodes", params={"limit": 2, "after": body["next_cursor"]}, headers=viewer
    )
    assert second.json()["data"][0]["dc_id"] == f"{RUN}-page-2"


BAD_NODES = [
    ({"hostname": None}, "hostname"),
    ({"hostname": "   "}, "hostname"),
    ({"capacity_kw": -1}, "capacity_kw"),
    ({"battery_kwh": "lots"}, "battery_kwh"),
    ({"dc_id": "no/slash"}, "dc_id"),
    ({"kind": "spaceship"}, "kind"),
    ({"location": {"lat": 91, "lon": 0}}, "location.lat"),
    ({"colour": "green"}, "colour"),
]


@pytest.mark.parametrize(("change", "field"), BAD_NODES, ids=[f for _, f in BAD_NODES])
async def test_a_bad_node_is_422_naming_the_field_and_is_not_created(
    client: httpx.AsyncClient, tokens: Tokens, change: dict[str, Any], field: str
) -> None:
    body = node_body(f"{RUN}-bad") | change
    body = {k: v for k, v in body.items() if v is not None}
    response = await client.post("/api/nodes", json=body, headers=await tokens.headers("admin"))
    assert response.status_code == 422
    answer = response.json()
    assert answer["success"] is False
    assert answer["code"] == "BAD_USER_INPUT"
    assert field in [d["field"] for d in answer["detail"]]
    assert not await exists(client, tokens, f"{RUN}-bad")


async def test_a_body_that_is_not_json_is_422(client: httpx.AsyncClient, tokens: Tokens) -> None:
    headers = await tokens.headers("admin") | {"content-type": "application/json"}
    response = await client.post("/api/nodes", content=b"{not json", headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, None), ({"dc_id": "renamed"}, "dc_id"), ({"capacity_kw": -5}, "capacity_kw")],
    ids=["empty", "id-change", "negative"],
)
async def test_a_bad_update_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
    tokens: Tokens,
    fixed_node: str,
    body: dict[str, Any],
    field: str | None,
) -> None:
    admin = await tokens.headers("admin")
    response = await client.put(f"/api/nodes/{fixed_node}", json=body, headers=admin)
    assert response.status_code == 422
    if field is not None:
        assert field in [d["field"] for d in response.json()["detail"]]
    else:
        assert "nothing to update" in response.json()["error"]
    node = (await client.get(f"/api/nodes/{fixed_node}", headers=admin)).json()["data"]
    assert (node["dc_id"], node["capacity_kw"]) == (fixed_node, 7.5)


def _range(fixed: str, **params: str) -> dict[str, str]:
    now = datetime.now(UTC)
    base = {
        "dc_id": fixed,
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": now.isoformat(),
    }
    return base | params


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/telemetry", {"limit": "0"}, "limit"),
        ("/api/telemetry", {"limit": "10001"}, "limit"),
        ("/api/telemetry", {"dc_id": "bad id"}, "dc_id"),
        ("/api/telemetry/range", {"start": "2026-01-01T00:00:00"}, "start"),
        ("/api/telemetry/range", {"start": "yesterday"}, "start"),
        ("/api/telemetry/range", {"end": "2000-01-01T00:00:00Z"}, "end"),
        ("/api/telemetry/range", {"bucket": "2m"}, "bucket"),
        ("/api/telemetry/range", {"after": "garbage!"}, "after"),
        ("/api/aggregate", {"nodeIds": ","}, "nodeIds"),
        ("/api/aggregate", {"nodeIds": "ok,not ok"}, "nodeIds"),
        ("/api/nodes", {"limit": "5000"}, "limit"),
        ("/api/nodes", {"after": "bm9kZQ"}, "after"),
    ],
)
async def test_bad_query_parameters_are_422_naming_the_field(
    *,
    client: httpx.AsyncClient,
    tokens: Tokens,
    fixed_node: str,
    path: str,
    params: dict[str, str],
    field: str,
) -> None:
    query = _range(fixed_node, **params) if path.endswith("range") else params
    if path == "/api/telemetry":
        query = {"dc_id": fixed_node} | params
    response = await client.get(path, params=query, headers=await tokens.headers("viewer"))
    assert response.status_code == 422, response.text
    assert field in [d["field"] for d in response.json()["detail"]]


async def test_telemetry_of_an_unregistered_node_is_404(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await client.get(
        "/api/telemetry", params={"dc_id": f"{RUN}-nobody"}, headers=await tokens.headers("viewer")
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def _old() -> str:
    return (datetime.now(UTC) - timedelta(days=400)).isoformat()


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"soc": "60"}, 422, "soc"),  # strict, as on MQTT: a string is not a number
        ({"soc": 101}, 422, "soc"),
        ({"freq": None}, 422, "freq"),
        ({"timestamp": "2026-01-01T00:00:00"}, 422, "timestamp"),  # no time zone
        ({"timestamp": "__old__"}, 422, "timestamp"),  # beyond retention
        ({"colour": "green"}, 422, "colour"),
        ({"dc_id": f"{RUN}-nobody"}, 404, None),
    ],
    ids=[
        "string-number",
        "soc-over-100",
        "missing-freq",
        "naive-time",
        "too-old",
        "extra",
        "unknown",
    ],
)
async def test_a_bad_reading_is_refused_and_nothing_is_stored(
    *,
    client: httpx.AsyncClient,
    tokens: Tokens,
    api: FastAPI,
    fixed_node: str,
    change: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    state: ApiState = api.state.vpp
    body = reading(fixed_node) | change
    if body.get("timestamp") == "__old__":
        body["timestamp"] = _old()
    body = {k: v for k, v in body.items() if v is not None}
    before = await state.db[TELEMETRY].count_documents({"dc_id": {"$regex": f"^{RUN}"}})
    response = await client.post(
        "/api/telemetry", json=body, headers=await tokens.headers("operator")
    )
    assert response.status_code == status, response.text
    if field is not None:
        assert field in [d["field"] for d in response.json()["detail"]]
    after = await state.db[TELEMETRY].count_documents({"dc_id": {"$regex": f"^{RUN}"}})
    assert after == before


async def test_non_json_and_oversized_readings_are_refused(
    client: httpx.AsyncClient, tokens: Tokens, fixed_node: str
) -> None:
    headers = await tokens.headers("operator") | {"content-type": "application/json"}
    broken = await client.post("/api/telemetry", content=b'{"dc_id": "x", "seq', headers=headers)
    assert broken.status_code == 422
    assert broken.json()["detail"] == [{"field": "body", "msg": "not valid JSON"}]
    nan = await client.post(
        "/api/telemetry",
        content=orjson.dumps(reading(fixed_node)).replace(b'"soc":60.0', b'"soc":NaN'),
        headers=headers,
    )
    assert nan.status_code == 422
    assert [d["field"] for d in nan.json()["detail"]] == ["soc"]
    huge = await client.post(
        "/api/telemetry", content=b'{"pad": "' + b"x" * 20_000 + b'"}', headers=headers
    )
    assert huge.status_code == 413


async def test_readings_posted_over_http_are_stored_like_mqtt_ones_and_read_back(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI, names: RedisNames
) -> None:
    state: ApiState = api.state.vpp
    dc_id = f"{RUN}-http"
    await register(client, tokens, dc_id)
    operator = await tokens.headers("operator")
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    readings = [
        reading(dc_id, seq=n, timestamp=(base + timedelta(minutes=n)).isoformat(), soc=50.0 + n)
        for n in range(3)
    ]
    for body in readings:
        response = await client.post("/api/telemetry", json=body, headers=operator)
        assert response.status_code == 201, response.text
        assert response.json()["duplicate"] is False
    # A retried POST (the simulator after a lost answer) is answered 200, stored once.
    retry = await client.post("/api/telemetry", json=readings[-1], headers=operator)
    assert retry.status_code == 200
    assert retry.json()["duplicate"] is True
    # Another reading under a stored timestamp is refused, saying what holds it.
    taken = await client.post(
        "/api/telemetry", json=readings[-1] | {"seq": 9, "soc": 10.0}, headers=operator
    )
    assert taken.status_code == 422, taken.text
    assert "timestamp" in taken.text
    assert "(seq 2)" in taken.text
    assert await state.db[TELEMETRY].count_documents({"dc_id": dc_id}) == 3
    # The ingester's Redis state moved to the newest reading.
    latest = await state.redis.hget(names.latest, dc_id)
    assert latest is not None
    assert b'"seq":2' in latest

    viewer = await tokens.headers("viewer")
    newest = await client.get("/api/telemetry", params={"dc_id": dc_id, "limit": 2}, headers=viewer)
    assert [r["seq"] for r in newest.json()["data"]] == [2, 1]

    window = {
        "dc_id": dc_id,
        "start": (base - timedelta(minutes=1)).isoformat(),
        "end": (base + timedelta(minutes=10)).isoformat(),
    }
    page1 = await client.get("/api/telemetry/range", params=window | {"limit": 2}, headers=viewer)
    assert [r["seq"] for r in page1.json()["data"]] == [0, 1]
    cursor = page1.json()["next_cursor"]
    assert cursor
    page2 = await client.get(
        "/api/telemetry/range", params=window | {"limit": 2, "after": cursor}, headers=viewer
    )
    assert [r["seq"] for r in page2.json()["data"]] == [2]
    assert page2.json()["next_cursor"] is None

    buckets = await client.get(
        "/api/telemetry/range", params=window | {"bucket": "5m"}, headers=viewer
    )
    data = buckets.json()["data"]
    assert sum(b["count"] for b in data) == 3
    assert {"avg", "min", "max"} <= set(data[0]["soc"])


async def test_aggregate_is_cached_in_redis_and_shared_with_graphql(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI, names: RedisNames
) -> None:
    state: ApiState = api.state.vpp
    a, b = f"{RUN}-agg-a", f"{RUN}-agg-b"
    await publish_live(state.redis, names, [reading(a, power_kw=10.0), reading(b, power_kw=5.0)])
    viewer = await tokens.headers("viewer")
    first = (
        await client.get("/api/aggregate", params={"nodeIds": f"{a},{b}"}, headers=viewer)
    ).json()
    assert first["data"]["total_power_kw"] == 15.0
    assert first["data"]["online_nodes"] == 2
    key = names.aggregate_cache([a, b])
    ttl = await state.redis.pttl(key)
    assert 0 < ttl <= state.settings.ingest.aggregate_cache_s * 1000

    await publish_live(state.redis, names, [reading(a, power_kw=100.0)])
    cached = (
        await client.get("/api/aggregate", params={"nodeIds": f"{b},{a}"}, headers=viewer)
    ).json()
    assert cached["data"] == first["data"]  # same scope in another order: the cached value
    graphql = await client.post(
        "/graphql",
        json={"query": f'{{ aggregate(nodeIds: ["{a}", "{b}"]) {{ totalPowerKw computedAt }} }}'},
        headers=viewer,
    )
    assert graphql.json()["data"]["aggregate"]["totalPowerKw"] == 15.0

    await state.redis.delete(key)  # what the expiry does
    fresh = (
        await client.get("/api/aggregate", params={"nodeIds": f"{a},{b}"}, headers=viewer)
    ).json()
    assert fresh["data"]["total_power_kw"] == 105.0
    assert fresh["data"]["computed_at"] > first["data"]["computed_at"]


async def test_the_fleet_aggregate_is_computed_in_the_worker_process(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI, names: RedisNames
) -> None:
    """The whole fleet (this run's Redis prefix) is computed off the event loop."""
    state: ApiState = api.state.vpp
    fleet = [f"{RUN}-fleet-{n}" for n in range(3)]
    await publish_live(state.redis, names, [reading(i, power_kw=1.0) for i in fleet])
    await state.redis.delete(names.aggregate_cache(None))
    computed = state.aggregates.computations
    response = await client.get("/api/aggregate", headers=await tokens.headers("viewer"))
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["node_count"] >= 3
    assert data["online_nodes"] >= 3
    assert state.aggregates.computations == computed + 1
    assert await state.redis.exists(names.aggregate_cache(None))


async def test_the_openapi_document_lists_the_seed_endpoints(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in (
        "/api/telemetry",
        "/api/telemetry/range",
        "/api/nodes",
        "/api/nodes/{dc_id}",
        "/api/aggregate",
    ):
        assert path in spec["paths"]
    assert "keycloak" in spec["components"]["securitySchemes"]
