"""Subscriptions through the real WebSocket protocol (graphql-transport-ws, uvicorn and
the `websockets` client), fed by batches published on the Redis live channel the way the
ingester publishes them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.api_support import (
    PROTOCOL,
    RUN,
    TIMEOUT_S,
    GraphQLWs,
    Tokens,
    graphql_ws,
    publish_live,
    reading,
    ws_url,
)
from tests.integration.test_api_automation import forecast_doc
from vpp.activities.forecast import ForecastActivities
from vpp.api.state import ApiState
from vpp.bus.channels import RedisNames
from vpp.config import Settings
from vpp.ml.forecast.documents import FORECASTS
from vpp.ml.forecast.history import hour_floor
from vpp.ml.forecast.messages import PublishInput
from vpp.models import NodeStatus
from vpp.store.live_state import LiveStateWriter, StatusUpdate, epoch_ms


async def subscribed(state: ApiState, count: int) -> None:
    await asyncio.wait_for(state.live.telemetry.wait_for_subscribers(count), TIMEOUT_S)


TELEMETRY = "subscription($ids: [ID!]) { telemetry(dcIds: $ids) { dcId seq powerKw } }"


async def test_telemetry_reaches_subscribers_of_its_nodes_and_of_the_fleet(
    api: FastAPI,
    api_settings: Settings,
    tokens: Tokens,
    names: RedisNames,
    client: httpx.AsyncClient,
) -> None:
    state: ApiState = api.state.vpp
    a, b = f"{RUN}-ws-a", f"{RUN}-ws-b"
    listeners = state.live.telemetry.subscriber_count
    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        await ws.subscribe("mine", TELEMETRY, {"ids": [a]})
        await ws.subscribe("fleet", "subscription { telemetry { dcId seq } }")
        await subscribed(state, listeners + 2)
        metrics = (await client.get("/metrics")).text
        assert 'vpp_api_subscriptions{field="telemetry"} 2.0' in metrics
        assert "vpp_api_websocket_connections 1.0" in metrics

        await publish_live(state.redis, names, [reading(a, seq=1, power_kw=4.5), reading(b, seq=2)])
        mine = await ws.receive("mine")
        assert mine["type"] == "next"
        assert mine["payload"]["data"]["telemetry"] == [{"dcId": a, "seq": 1, "powerKw": 4.5}]
        fleet = await ws.receive("fleet")
        assert {r["dcId"] for r in fleet["payload"]["data"]["telemetry"]} >= {a, b}

        await ws.complete("mine")
        await subscribed(state, listeners + 1)  # the fleet one remains
    # The server lets go of the closed socket's subscription.
    await asyncio.wait_for(state.live.telemetry.wait_for_count(lambda n: n <= listeners), TIMEOUT_S)


async def test_one_redis_subscription_serves_every_client(
    api: FastAPI, api_settings: Settings, tokens: Tokens, names: RedisNames
) -> None:
    state: ApiState = api.state.vpp
    c = f"{RUN}-ws-c"
    listeners = state.live.telemetry.subscriber_count
    token = await tokens.get("viewer")
    async with graphql_ws(api_settings, token) as one, graphql_ws(api_settings, token) as two:
        await one.subscribe("1", TELEMETRY, {"ids": [c]})
        await two.subscribe("2", TELEMETRY, {"ids": [c]})
        await subscribed(state, listeners + 2)
        channels = dict(await state.redis.pubsub_numsub(names.telemetry_live))
        assert channels[names.telemetry_live.encode()] == 1
        await publish_live(state.redis, names, [reading(c, seq=9)])
        for ws, op in ((one, "1"), (two, "2")):
            message = await ws.receive(op)
            assert message["payload"]["data"]["telemetry"][0]["seq"] == 9


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic abc"},
        {"token": "x.y.z"},
    ],
    ids=["none", "garbage", "not-bearer", "bad-token-param"],
)
async def test_connection_init_without_a_valid_token_is_closed_4403(
    api: FastAPI, api_settings: Settings, payload: dict[str, str]
) -> None:
    state: ApiState = api.state.vpp
    listeners = state.live.telemetry.subscriber_count
    async with connect(ws_url(api_settings), subprotocols=[PROTOCOL]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)
        assert ws.close_code == 4403
    assert state.live.telemetry.subscriber_count == listeners


async def test_subscribing_before_connection_init_is_closed_4401(
    api: FastAPI, api_settings: Settings
) -> None:
    async with connect(ws_url(api_settings), subprotocols=[PROTOCOL]) as ws:
        await GraphQLWs(ws).subscribe("early", TELEMETRY, {"ids": ["x"]})
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), TIMEOUT_S)
        assert ws.close_code == 4401


async def test_the_token_travels_as_a_token_parameter_too(
    api: FastAPI, api_settings: Settings, tokens: Tokens
) -> None:
    async with connect(ws_url(api_settings), subprotocols=[PROTOCOL]) as ws:
        init = {"type": "connection_init", "payload": {"token": await tokens.get("viewer")}}
        await ws.send(json.dumps(init))
        ack = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
        assert ack["type"] == "connection_ack"


async def test_limits_and_bad_input_apply_to_subscriptions(
    api: FastAPI, api_settings: Settings, tokens: Tokens
) -> None:
    deep = (
        "subscription { telemetry { node { live { reading { node { live { reading "
        "{ node { live { reading { node { dcId } } } } } } } } } } } }"
    )
    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        await ws.subscribe("deep", deep)
        message = await ws.receive("deep")
        assert message["type"] == "error"
        assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
        await ws.subscribe("both", 'subscription { telemetry(dcId: "a", dcIds: ["b"]) { seq } }')
        message = await ws.receive("both")
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_aggregate_subscription_sends_the_value_then_each_change(
    api: FastAPI, api_settings: Settings, tokens: Tokens, names: RedisNames
) -> None:
    state: ApiState = api.state.vpp
    d = f"{RUN}-ws-d"
    await publish_live(state.redis, names, [reading(d, power_kw=1.0)])
    query = "subscription($ids: [ID!]) { aggregate(nodeIds: $ids) { totalPowerKw onlineNodes } }"
    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        await ws.subscribe("agg", query, {"ids": [d]})
        first = await ws.receive("agg")
        assert first["payload"]["data"]["aggregate"] == {"totalPowerKw": 1.0, "onlineNodes": 1}
        await publish_live(state.redis, names, [reading(d, power_kw=3.0)])
        await state.redis.delete(names.aggregate_cache([d]))  # what the cache's expiry does
        changed = await ws.receive("agg")
        assert changed["payload"]["data"]["aggregate"] == {"totalPowerKw": 3.0, "onlineNodes": 1}


async def test_alerts_for_grid_frequency_and_a_node_going_offline(
    api: FastAPI, api_settings: Settings, tokens: Tokens, names: RedisNames
) -> None:
    state: ApiState = api.state.vpp
    e = f"{RUN}-ws-e"
    await publish_live(state.redis, names, [reading(e)])  # online before the baseline scan
    query = "subscription($ids: [ID!]) { alerts(dcIds: $ids) { kind dcId freqStatus } }"
    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        await ws.subscribe("alerts", query, {"ids": [e]})
        # The monitor watches from the API's start; a scan after the reading has e online.
        alerts = state.live.alerts
        await asyncio.wait_for(alerts.ready.wait(), TIMEOUT_S)
        scanned = alerts.scans
        async with asyncio.timeout(TIMEOUT_S):
            while alerts.scans < scanned + 2:  # noqa: ASYNC110 - a count, with no event
                await asyncio.sleep(0.05)

        await publish_live(state.redis, names, [reading(e, freq=49.65)])
        out = await ws.receive("alerts")
        assert out["payload"]["data"]["alerts"] == {
            "kind": "FREQUENCY_OUT_OF_BAND",
            "dcId": None,
            "freqStatus": "CRITICAL",
        }
        await publish_live(state.redis, names, [reading(e, freq=50.01)])
        back = await ws.receive("alerts")
        assert back["payload"]["data"]["alerts"]["kind"] == "FREQUENCY_RESTORED"

        offline_at = epoch_ms(datetime.now(UTC)) + 1_000
        await LiveStateWriter(state.redis, names).set_statuses(
            [StatusUpdate(e, NodeStatus.OFFLINE, offline_at)]
        )
        gone = await ws.receive("alerts")
        assert gone["payload"]["data"]["alerts"] == {
            "kind": "NODE_OFFLINE",
            "dcId": e,
            "freqStatus": None,
        }


async def test_a_reading_posted_over_http_reaches_live_subscribers(
    api: FastAPI, api_settings: Settings, tokens: Tokens, client: httpx.AsyncClient
) -> None:
    state: ApiState = api.state.vpp
    f = f"{RUN}-ws-f"
    created = await client.post(
        "/api/nodes",
        json={
            "dc_id": f,
            "hostname": "edge-f",
            "location": {"lat": 1.0, "lon": 1.0},
            "capacity_kw": 100.0,
            "battery_kwh": 200.0,
        },
        headers=await tokens.headers("admin"),
    )
    assert created.status_code == 201
    listeners = state.live.telemetry.subscriber_count
    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        await ws.subscribe("f", TELEMETRY, {"ids": [f]})
        await subscribed(state, listeners + 1)
        posted = await client.post(
            "/api/telemetry", json=reading(f, seq=42), headers=await tokens.headers("operator")
        )
        assert posted.status_code == 201
        message = await ws.receive("f")
        assert message["payload"]["data"]["telemetry"][0]["seq"] == 42


FORECASTS_LIVE = (
    "subscription($id: ID!, $target: ForecastTarget, $horizon: Int) "
    "{ forecasts(seriesId: $id, target: $target, horizon: $horizon) "
    "{ target cycleId model fallbackReason issuedAt staleAfter points { p50 } } }"
)


def _cycle_docs(cycle_id: str, node: str, q50: float, hour: datetime) -> list[dict[str, Any]]:
    """What a cycle stores for `node`: its load by LightGBM, its PV by the naive fallback."""
    load = forecast_doc(node, "load_kw", hour, [q50] * 24)
    pv = forecast_doc(node, "pv_kw", hour, [q50 / 2] * 24)
    pv |= {
        "model_name": "seasonal_naive",
        "model_version": None,
        "model_kind": "seasonal_naive",
        "fallback": True,
        "fallback_reason": "no champion model for pv_kw in the registry",
    }
    return [d | {"cycle_id": cycle_id} for d in (load, pv)]


async def test_forecasts_subscription_sends_the_stored_then_each_newer_cycle(
    api: FastAPI, api_settings: Settings, tokens: Tokens
) -> None:
    """The cycle's own publishing activity (`forecast.publish_cycle`) sends what it stored
    over Redis; the subscriber of a node gets that node's forecasts, each target's newest."""
    state: ApiState = api.state.vpp
    node, other = f"{RUN}-fc-live", f"{RUN}-fc-other"
    hour = hour_floor(datetime.now(UTC))
    publisher = ForecastActivities(state.db, state.redis, api_settings.forecast)

    async def store_and_publish(docs: list[dict[str, Any]]) -> int:
        await state.db[FORECASTS].insert_many(docs)
        result = await publisher.publish_cycle(PublishInput(cycle_id=docs[0]["cycle_id"]))
        return result.subscribers

    stored = forecast_doc(node, "load_kw", hour, [1.0] * 24) | {"cycle_id": f"{RUN}-c1"}
    await state.db[FORECASTS].insert_one(stored)
    try:
        async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
            await ws.subscribe("fc", FORECASTS_LIVE, {"id": node, "horizon": 6})
            first = (await ws.receive("fc"))["payload"]["data"]["forecasts"]
            assert [(f["target"], f["cycleId"], f["model"]) for f in first] == [
                ("LOAD", f"{RUN}-c1", "load_kw-lightgbm v1")
            ]
            assert [p["p50"] for p in first[0]["points"]] == [1.0] * 6  # horizon: 6 h

            # The API process's one Redis subscription hears it.
            assert await store_and_publish(_cycle_docs(f"{RUN}-c2", node, 2.0, hour)) == 1
            second = (await ws.receive("fc"))["payload"]["data"]["forecasts"]
            assert [(f["target"], f["cycleId"]) for f in second] == [
                ("LOAD", f"{RUN}-c2"),
                ("PV", f"{RUN}-c2"),
            ]
            assert second[0]["points"][0]["p50"] == 2.0
            assert second[1]["model"] == "seasonal_naive"
            assert second[1]["fallbackReason"] == "no champion model for pv_kw in the registry"
            # A published cycle's forecasts are due again two cycles (15 minutes each) on.
            assert {
                datetime.fromisoformat(f["staleAfter"]) - datetime.fromisoformat(f["issuedAt"])
                for f in second
            } == {timedelta(minutes=30)}

            # Sent nothing: another node's cycle, a message that is not a cycle's, and the
            # first cycle published again (older than what the subscriber has).
            await store_and_publish(_cycle_docs(f"{RUN}-c3", other, 9.0, hour))
            await state.redis.publish(api_settings.forecast.redis_channel, b"not a cycle")
            await publisher.publish_cycle(PublishInput(cycle_id=f"{RUN}-c1"))
            await store_and_publish(_cycle_docs(f"{RUN}-c4", node, 4.0, hour))
            fourth = (await ws.receive("fc"))["payload"]["data"]["forecasts"]
            assert [(f["cycleId"], f["points"][0]["p50"]) for f in fourth] == [
                (f"{RUN}-c4", 4.0),
                (f"{RUN}-c4", 2.0),
            ]

            # One target only: the PV of the next cycle; a series with no forecast: [].
            await ws.subscribe("pv", FORECASTS_LIVE, {"id": node, "target": "PV"})
            await ws.subscribe("none", FORECASTS_LIVE, {"id": f"{RUN}-fc-none"})
            pv = (await ws.receive("pv"))["payload"]["data"]["forecasts"]
            assert [(f["target"], f["cycleId"]) for f in pv] == [("PV", f"{RUN}-c4")]
            assert (await ws.receive("none"))["payload"]["data"]["forecasts"] == []
            assert state.live.forecasts.subscriber_count == 3
    finally:
        await state.db[FORECASTS].delete_many({"cycle_id": {"$regex": f"^{RUN}-c"}})
    # The server lets go of the closed socket's subscriptions.
    async with asyncio.timeout(TIMEOUT_S):
        while state.live.forecasts.subscriber_count:  # noqa: ASYNC110 - a count, no event
            await asyncio.sleep(0.05)


async def test_forecasts_subscription_refuses_a_bad_series_or_horizon(
    api: FastAPI, api_settings: Settings, tokens: Tokens
) -> None:
    state: ApiState = api.state.vpp
    async with graphql_ws(api_settings, await tokens.get("viewer")) as ws:
        for op, variables, field, says in (
            ("id", {"id": "no spaces"}, "seriesId", "a node id is 1-64 letters, digits"),
            ("h", {"id": "fleet", "horizon": 0}, "horizon", "between 1 and 168 hours, not 0"),
        ):
            await ws.subscribe(op, FORECASTS_LIVE, variables)
            message = await ws.receive(op)
            payload = message["payload"]
            errors = payload if message["type"] == "error" else payload["errors"]
            assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert errors[0]["extensions"]["fields"][0]["field"] == field
            assert says in errors[0]["message"]
    assert state.live.forecasts.subscriber_count == 0
