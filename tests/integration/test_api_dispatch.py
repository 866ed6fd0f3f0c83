"""Dispatch through the API against a real Temporal worker (no simulated fleet: the
commands go to the broker and nobody answers, so a dispatch runs until cancelled). Who
may dispatch, what a bad or impossible request gets (nothing is sent), and a dispatch's
life as the API shows it: started, read, its progress pushed over the WebSocket,
cancelled, logged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.integration.api_support import DISPATCH_QUEUE, RUN, Tokens, graphql_ws
from vpp.config import Settings
from vpp.temporal_client import connect as temporal_connect
from vpp.workers.io import build_io_worker, open_clients

NODE = f"{RUN}-dsp"


@pytest.fixture(scope="module")
async def worker(api_settings: Settings, api: FastAPI) -> AsyncIterator[None]:
    client = await temporal_connect(api_settings.temporal)
    async with (
        open_clients(api_settings, instance=f"{RUN}-test") as clients,
        build_io_worker(client, api_settings, clients, task_queue=DISPATCH_QUEUE),
    ):
        yield


@pytest.fixture(scope="module")
async def node(client: httpx.AsyncClient, tokens: Tokens) -> str:
    response = await client.post(
        "/api/nodes",
        json={
            "dc_id": NODE,
            "kind": "edge_dc",
            "hostname": "edge-dsp",
            "location": {"lat": 1.0, "lon": 1.0},
            "capacity_kw": 100.0,
            "battery_kwh": 200.0,
        },
        headers=await tokens.headers("admin"),
    )
    assert response.status_code == 201, response.text
    return NODE


async def gql(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


DISPATCH = """
mutation($input: DispatchInput!) {
  dispatch(input: $input) { dispatchId workflowId nodeCount existing }
}
"""


def deadline(seconds: float = 120) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_viewer_may_not_dispatch_and_nothing_starts(
    client: httpx.AsyncClient, tokens: Tokens, node: str
) -> None:
    viewer = await tokens.headers("viewer")
    rest = await client.post(
        "/api/dispatch", json={"targets": [node], "action": "charge"}, headers=viewer
    )
    assert rest.status_code == 403
    body = await gql(
        client, viewer, DISPATCH, input={"targets": [node], "action": "CHARGE", "kw": 5}
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    mine = await gql(client, viewer, '{ dispatches(issuedBy: "vpp-viewer") { edges { cursor } } }')
    assert mine["data"]["dispatches"]["edges"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"targets": [], "action": "charge"}, "targets"),
        ({"targets": ["a b"], "action": "charge"}, "targets"),
        ({"targets": ["n1"], "action": "explode"}, "action"),
        ({"targets": ["n1"], "action": "charge", "params": {"kw": -1}}, "params.kw"),
        ({"targets": ["n1"], "action": "charge", "colour": "red"}, "colour"),
    ],
    ids=["no-targets", "bad-id", "bad-action", "negative-kw", "extra"],
)
async def test_a_bad_dispatch_is_422_naming_the_field(
    client: httpx.AsyncClient, tokens: Tokens, body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/api/dispatch", json=body, headers=await tokens.headers("operator")
    )
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["detail"]]
    assert any(f.startswith(field) for f in fields), fields


@pytest.mark.parametrize(
    ("dispatch_input", "message"),
    [
        ({"action": "CHARGE"}, "targets or allNodes"),
        ({"action": "CHARGE", "targets": ["n1"], "allNodes": True}, "not both"),
    ],
)
async def test_graphql_dispatch_needs_targets_or_all_nodes(
    client: httpx.AsyncClient, tokens: Tokens, dispatch_input: dict[str, Any], message: str
) -> None:
    body = await gql(client, await tokens.headers("operator"), DISPATCH, input=dispatch_input)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in error["message"]


async def test_a_past_deadline_is_refused_before_anything_starts(
    client: httpx.AsyncClient, tokens: Tokens, node: str
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await client.post(
        "/api/dispatch",
        json={"targets": [node], "action": "charge", "deadline": past},
        headers=await tokens.headers("operator"),
    )
    assert response.status_code == 422
    assert "deadline has passed" in response.json()["error"]


async def test_an_impossible_dispatch_is_refused_with_its_reasons(
    client: httpx.AsyncClient, tokens: Tokens, node: str, worker: None
) -> None:
    body = await gql(
        client,
        await tokens.headers("operator"),
        DISPATCH,
        input={"targets": [node, f"{RUN}-nobody"], "action": "DISCHARGE", "kw": 5000.0},
    )
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    problems = " ".join(f["message"] for f in error["extensions"]["fields"])
    assert f"{RUN}-nobody" in problems


async def test_a_dispatch_from_start_to_cancel(
    *,
    api_settings: Settings,
    client: httpx.AsyncClient,
    tokens: Tokens,
    node: str,
    worker: None,
) -> None:
    operator, viewer = await tokens.headers("operator"), await tokens.headers("viewer")
    request_id = f"{RUN}-req-1"
    dispatch_input = {
        "targets": [node],
        "action": "DISCHARGE",
        "kw": 20.0,
        "durationS": 600,
        "deadline": deadline(),
        "requestId": request_id,
    }
    started = (await gql(client, operator, DISPATCH, input=dispatch_input))["data"]["dispatch"]
    assert started["nodeCount"] == 1
    assert started["existing"] is False
    dispatch_id = started["dispatchId"]
    # A retried request (same requestId) finds the same dispatch.
    again = (await gql(client, operator, DISPATCH, input=dispatch_input))["data"]["dispatch"]
    assert (again["dispatchId"], again["existing"]) == (dispatch_id, True)

    read = await gql(
        client,
        viewer,
        """query($id: ID!) { dispatch(dispatchId: $id) {
             status action issuedBy params { kw } targets allNodes
             commands(first: 10) { edges { node { dcId node { hostname } } } }
           } }""",
        id=dispatch_id,
    )
    dispatch = read["data"]["dispatch"]
    assert dispatch["status"] in ("RESOLVING", "RUNNING")
    assert (dispatch["action"], dispatch["issuedBy"], dispatch["params"]) == (
        "DISCHARGE",
        "vpp-operator",
        {"kw": 20.0},
    )
    assert (dispatch["targets"], dispatch["allNodes"]) == ([node], False)

    rest = await client.get(f"/api/dispatch/{dispatch_id}", headers=viewer)
    assert rest.json()["data"]["dispatch_id"] == dispatch_id

    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        await ws.subscribe(
            "p",
            "subscription($id: ID!) { dispatchProgress(dispatchId: $id) { status shard "
            "counts { cancelled total } } }",
            {"id": dispatch_id},
        )
        # Viewer may not cancel; the operator may.
        denied = await client.post(f"/api/dispatch/{dispatch_id}/cancel", headers=viewer)
        assert denied.status_code == 403
        cancelled = await gql(
            client,
            operator,
            'mutation($id: ID!) { cancelDispatch(dispatchId: $id, reason: "test") { dispatchId } }',
            id=dispatch_id,
        )
        assert cancelled["data"]["cancelDispatch"]["dispatchId"] == dispatch_id
        async with asyncio.timeout(60):
            while True:
                message = await ws.receive("p")
                progress = message["payload"]["data"]["dispatchProgress"]
                if progress["shard"] is None and progress["status"] == "CANCELLED":
                    break

    final = await client.get(f"/api/dispatch/{dispatch_id}", headers=viewer)
    assert final.json()["data"]["status"] == "cancelled"
    assert final.json()["data"]["cancelled_by"] == "vpp-operator"
    logs = await client.get("/api/dispatch/logs", params={"dc_id": node}, headers=viewer)
    entries = [e for e in logs.json()["data"] if e["dispatch_id"] == dispatch_id]
    assert [e["status"] for e in entries] == ["cancelled"]
    log = await gql(
        client,
        viewer,
        "query($id: ID!) { dispatchLog(dcId: $id, last: 5) { dispatchId status } }",
        id=node,
    )
    assert {"dispatchId": dispatch_id, "status": "CANCELLED"} in log["data"]["dispatchLog"]
    listed = await gql(
        client,
        viewer,
        '{ dispatches(first: 5, issuedBy: "vpp-operator") { edges { node { dispatchId } } } }',
    )
    assert dispatch_id in [e["node"]["dispatchId"] for e in listed["data"]["dispatches"]["edges"]]
