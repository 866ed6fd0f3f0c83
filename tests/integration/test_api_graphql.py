"""GraphQL over HTTP against the real servers and real Keycloak tokens: authentication,
each role's allowed and refused operations (a refusal changes nothing), bad input, the
depth and cost limits, cursor pagination and DataLoader batching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.api_support import RUN, Tokens, publish_live, reading
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.graphql.context import Context
from vpp.services.nodes import node_cursor

CREATE = """
mutation($input: NodeInput!) {
  createNode(input: $input) { dcId kind hostname location { lat lon } capacityKw }
}
"""


def node_input(dc_id: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dcId": dc_id,
        "kind": "EDGE_DC",
        "hostname": "edge-1",
        "location": {"lat": 34.0, "lon": -117.0},
        "capacityKw": 150.0,
        "batteryKwh": 200.0,
    }
    data.update(fields)
    return data


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
    )


async def node_exists(client: httpx.AsyncClient, tokens: Tokens, dc_id: str) -> bool:
    response = await gql(
        client,
        "query($id: ID!) { node(dcId: $id) { dcId } }",
        {"id": dc_id},
        await tokens.headers("viewer"),
    )
    return response.json()["data"]["node"] is not None


@pytest.mark.parametrize("authorization", [None, "Bearer nope", "Token abc"])
async def test_no_or_bad_token_is_401_with_unauthenticated(
    client: httpx.AsyncClient, tokens: Tokens, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await gql(client, CREATE, {"input": node_input(f"{RUN}-gq-anon")}, headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert not await node_exists(client, tokens, f"{RUN}-gq-anon")


async def test_graphiql_page_loads_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_node_mutations_are_forbidden_below_admin_and_change_nothing(
    client: httpx.AsyncClient, tokens: Tokens, role: str
) -> None:
    headers = await tokens.headers(role)
    response = await gql(client, CREATE, {"input": node_input(f"{RUN}-gq-denied")}, headers)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["message"] == "this needs role admin"
    assert not await node_exists(client, tokens, f"{RUN}-gq-denied")


async def test_admin_creates_updates_and_deletes_a_node(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin = await tokens.headers("admin")
    dc_id = f"{RUN}-gq-crud"
    created = (await gql(client, CREATE, {"input": node_input(dc_id)}, admin)).json()
    assert created["data"]["createNode"] == {
        "dcId": dc_id,
        "kind": "EDGE_DC",
        "hostname": "edge-1",
        "location": {"lat": 34.0, "lon": -117.0},
        "capacityKw": 150.0,
    }
    duplicate = (await gql(client, CREATE, {"input": node_input(dc_id)}, admin)).json()
    assert duplicate["errors"][0]["extensions"]["code"] == "CONFLICT"
    updated = await gql(
        client,
        "mutation($id: ID!) { updateNode(dcId: $id, input: {capacityKw: 99, kind: HOME_DER}) "
        "{ capacityKw kind hostname } }",
        {"id": dc_id},
        admin,
    )
    assert updated.json()["data"]["updateNode"] == {
        "capacityKw": 99.0,
        "kind": "HOME_DER",
        "hostname": "edge-1",
    }
    deleted = await gql(
        client, "mutation($id: ID!) { deleteNode(dcId: $id) }", {"id": dc_id}, admin
    )
    assert deleted.json()["data"] == {"deleteNode": dc_id}
    missing = await gql(
        client,
        'mutation($id: ID!) { updateNode(dcId: $id, input: {hostname: "x"}) { dcId } }',
        {"id": dc_id},
        admin,
    )
    assert missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacityKw": -1.0}, "input.capacityKw"),
        ({"hostname": ""}, "input.hostname"),
        ({"location": {"lat": 0.0, "lon": 181.0}}, "input.location.lon"),
        ({"dcId": "a b"}, "input.dcId"),
    ],
)
async def test_bad_node_input_is_bad_user_input_and_creates_nothing(
    client: httpx.AsyncClient, tokens: Tokens, change: dict[str, Any], field: str
) -> None:
    dc_id = f"{RUN}-gq-bad"
    variables = {"input": node_input(dc_id) | change}
    body = (await gql(client, CREATE, variables, await tokens.headers("admin"))).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert [f["field"] for f in error["extensions"]["fields"]] == [field]
    assert not await node_exists(client, tokens, dc_id)


async def test_a_variable_of_the_wrong_shape_is_bad_user_input(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    variables = {"input": node_input(f"{RUN}-gq-shape", capacityKw="lots")}
    body = (await gql(client, CREATE, variables, await tokens.headers("admin"))).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert not await node_exists(client, tokens, f"{RUN}-gq-shape")


async def test_a_viewer_reads_nodes_live_state_telemetry_and_aggregate(
    client: httpx.AsyncClient, tokens: Tokens, api: FastAPI, names: RedisNames
) -> None:
    state: ApiState = api.state.vpp
    admin, viewer = await tokens.headers("admin"), await tokens.headers("viewer")
    ids = [f"{RUN}-gq-read-{n}" for n in range(3)]
    for dc_id in ids:
        assert (
            "errors" not in (await gql(client, CREATE, {"input": node_input(dc_id)}, admin)).json()
        )
    await publish_live(state.redis, names, [reading(i, power_kw=2.0, seq=7) for i in ids])
    query = """
    query($after: String, $ids: [ID!]) {
      me { name roles }
      nodes(first: 2, after: $after) {
        edges { cursor node { dcId live { online reading { seq powerKw node { hostname } } } } }
        pageInfo { hasNextPage endCursor }
      }
      aggregate(nodeIds: $ids) { totalPowerKw onlineNodes freqStatus }
    }
    """
    variables = {"after": node_cursor(f"{RUN}-gq-read-"), "ids": ids}
    body = (await gql(client, query, variables, viewer)).json()
    assert "errors" not in body, body
    data = body["data"]
    assert data["me"] == {"name": "vpp-viewer", "roles": ["VIEWER"]}
    edges = data["nodes"]["edges"]
    assert [e["node"]["dcId"] for e in edges] == ids[:2]
    assert edges[0]["node"]["live"] == {
        "online": True,
        "reading": {"seq": 7, "powerKw": 2.0, "node": {"hostname": "edge-1"}},
    }
    assert data["nodes"]["pageInfo"]["hasNextPage"] is True
    assert data["aggregate"] == {"totalPowerKw": 6.0, "onlineNodes": 3, "freqStatus": "NORMAL"}
    rest = (
        await gql(
            client,
            "query($after: String) { nodes(first: 1, after: $after) { edges { node { dcId } } } }",
            {"after": data["nodes"]["pageInfo"]["endCursor"]},
            viewer,
        )
    ).json()
    assert rest["data"]["nodes"]["edges"][0]["node"]["dcId"] == ids[2]


async def test_per_node_data_is_batched_by_dataloaders(
    client: httpx.AsyncClient, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[str, list[int]] = {"live": [], "nodes": []}
    live_loader, node_loader = Context._load_live_states, Context._load_nodes

    async def live(self: Context, ids: Any) -> Any:
        calls["live"].append(len(ids))
        return await live_loader(self, ids)

    async def nodes(self: Context, ids: Any) -> Any:
        calls["nodes"].append(len(ids))
        return await node_loader(self, ids)

    monkeypatch.setattr(Context, "_load_live_states", live)
    monkeypatch.setattr(Context, "_load_nodes", nodes)
    query = """
    query($after: String) {
      nodes(first: 3, after: $after) {
        edges { node { live { online reading { node { dcId } } } } }
      }
    }
    """
    body = (
        await gql(
            client, query, {"after": node_cursor(f"{RUN}-gq-read-")}, await tokens.headers("viewer")
        )
    ).json()
    assert "errors" not in body, body
    assert calls == {"live": [3], "nodes": [3]}  # one round trip each for three nodes


async def test_telemetry_queries_page_and_downsample(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    admin, operator, viewer = (
        await tokens.headers("admin"),
        await tokens.headers("operator"),
        await tokens.headers("viewer"),
    )
    dc_id = f"{RUN}-gq-tel"
    await gql(client, CREATE, {"input": node_input(dc_id)}, admin)
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    for n in range(4):
        ts = (base + timedelta(minutes=n)).isoformat()
        response = await client.post(
            "/api/telemetry", json=reading(dc_id, seq=n, timestamp=ts), headers=operator
        )
        assert response.status_code == 201
    query = """
    query($id: ID!, $from: DateTime!, $to: DateTime!, $after: String, $bucket: Bucket) {
      telemetry(dcId: $id, last: 2) { seq }
      telemetryRange(dcId: $id, from: $from, to: $to, first: 3, after: $after, bucket: $bucket) {
        readings { seq } buckets { count soc { avg } } pageInfo { hasNextPage endCursor }
      }
    }
    """
    window = {
        "id": dc_id,
        "from": (base - timedelta(minutes=1)).isoformat(),
        "to": (base + timedelta(minutes=5)).isoformat(),
    }
    first = (await gql(client, query, window, viewer)).json()["data"]
    assert [r["seq"] for r in first["telemetry"]] == [3, 2]
    assert [r["seq"] for r in first["telemetryRange"]["readings"]] == [0, 1, 2]
    cursor = first["telemetryRange"]["pageInfo"]["endCursor"]
    rest = (await gql(client, query, window | {"after": cursor}, viewer)).json()["data"]
    assert [r["seq"] for r in rest["telemetryRange"]["readings"]] == [3]
    assert rest["telemetryRange"]["pageInfo"]["hasNextPage"] is False
    hourly = (await gql(client, query, window | {"bucket": "HOUR", "first": 3}, viewer)).json()
    buckets = hourly["data"]["telemetryRange"]["buckets"]
    assert sum(b["count"] for b in buckets) == 4
    assert hourly["data"]["telemetryRange"]["readings"] == []


async def test_too_deep_and_too_costly_queries_are_refused(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    viewer = await tokens.headers("viewer")
    deep = (
        "{ nodes { edges { node { live { reading { node { live { reading { node { live { reading"
        + (" { seq }" + " }" * 11)
    )
    body = (await gql(client, deep, headers=viewer)).json()
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    assert body.get("data") is None

    fields = " ".join(f'a{i}: telemetry(dcId: "{RUN}-x", last: $n) {{ seq }}' for i in range(6))
    costly = f"query($n: Int!) {{ {fields} }}"
    body = (await gql(client, costly, {"n": 10_000}, viewer)).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] == 60_006
    assert "exceeds the limit of 50000" in error["message"]


async def test_an_operation_may_not_be_a_flood_of_aliases(
    client: httpx.AsyncClient, tokens: Tokens
) -> None:
    fields = " ".join(f"a{i}: aggregate {{ nodeCount }}" for i in range(60))
    query = f"{{ {fields} }}"
    body = (await gql(client, query, headers=await tokens.headers("viewer"))).json()
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "aliases" in body["errors"][0]["message"]
