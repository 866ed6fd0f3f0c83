"""`vpp observability up`: Prometheus from Debian's package starts on loopback with our
config and rules, loads every alert, and scrapes each platform job; `down` stops it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from vpp.config import Settings
from vpp.stack import Stack, State
from vpp.stack.observability import OBSERVABILITY_TYPES, scrape_targets


async def test_prometheus_runs_with_our_jobs_and_rules(settings: Settings) -> None:
    stack = Stack(settings, server_types=OBSERVABILITY_TYPES)
    try:
        (report,) = await stack.up()
        assert report.state is State.STARTED
        base = f"http://127.0.0.1:{settings.metrics.prometheus_port}/api/v1"
        async with httpx.AsyncClient(timeout=10) as client:
            # Targets appear once service discovery has run: poll, bounded.
            async with asyncio.timeout(30):
                while not (targets := await _active_targets(client, base)):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
            rules = (await client.get(f"{base}/rules")).json()["data"]["groups"]
        assert {t["labels"]["job"] for t in targets} == set(scrape_targets(settings))
        alerts = {r["name"] for g in rules for r in g["rules"]}
        assert {"VppIngestStalled", "VppFleetOffline", "VppDispatchFailureRatio"} <= alerts
    finally:
        stack.down()
    assert all(r.state is not State.RUNNING for r in await stack.status())


async def _active_targets(client: httpx.AsyncClient, base: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = (await client.get(f"{base}/targets")).json()["data"][
        "activeTargets"
    ]
    return targets
