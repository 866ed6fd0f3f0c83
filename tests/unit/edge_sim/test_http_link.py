"""The HTTP fallback, against an httpx MockTransport: the real endpoint
(POST /api/telemetry) comes with the API issue."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx
import pytest

from vpp.edge_sim.buffer import Reading
from vpp.edge_sim.http_link import HttpNodeLink

URL = "http://api.test/api/telemetry"


def reading(seq: int) -> Reading:
    return Reading(seq, f'{{"dc_id":"node-00001","seq":{seq}}}'.encode())


def link_for(handler: Callable[[httpx.Request], httpx.Response]) -> HttpNodeLink:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    link = HttpNodeLink("node-00001", URL, client, buffer_size=100, rng=random.Random(1))
    # Retry at once: the back-off is not what these tests are about.
    link._backoff.first_s = 0.001
    return link


async def test_readings_are_posted_in_order_and_count_as_sent_on_2xx() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert str(request.url) == URL
        assert request.headers["content-type"] == "application/json"
        seen.append(request.content)
        return httpx.Response(201)

    link = link_for(handler)
    for seq in range(5):
        link.submit(reading(seq))
    link.start()
    assert await link.drain(5)
    assert seen == [reading(seq).payload for seq in range(5)]
    assert link.stats.sent == 5
    assert link.connected
    await link.stop()


async def test_server_errors_and_lost_connections_are_retried_in_order() -> None:
    answers = iter(["refuse", 503, 429, 200, 500, 200, 200])
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if answer == "refuse":
            raise httpx.ConnectError("connection refused", request=request)
        assert isinstance(answer, int)
        if answer < 300:
            seen.append(request.content)
        return httpx.Response(answer)

    link = link_for(handler)
    for seq in range(3):
        link.submit(reading(seq))
    link.start()
    assert await link.drain(5)
    assert seen == [reading(0).payload, reading(1).payload, reading(2).payload]
    assert link.stats.sent == 3
    await link.stop()


async def test_a_refused_reading_is_counted_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if b'"seq":1' in request.content:
            return httpx.Response(422, json={"detail": "bad reading"})
        return httpx.Response(200)

    link = link_for(handler)
    for seq in range(3):
        link.submit(reading(seq))
    link.start()
    assert await link.drain(5)
    assert (link.stats.sent, link.stats.refused) == (2, 1)
    assert "refused reading 1: 422" in caplog.text
    await link.stop()


async def test_an_offline_link_holds_its_readings_until_it_is_back() -> None:
    posted = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        posted.set()
        return httpx.Response(200)

    link = link_for(handler)
    link.set_online(False)
    link.start()
    link.submit(reading(0))
    assert not await link.drain(0.1)
    assert not posted.is_set()
    assert len(link.buffer) == 1
    link.set_online(True)
    assert await link.drain(5)
    assert link.stats.sent == 1
    await link.stop()
