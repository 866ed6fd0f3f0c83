"""`vpp observability up`: Prometheus from Debian's package starts on loopback with our
config and rules, loads every alert, and scrapes each platform job; `down` stops it."""

from __future__ import annotations

import asyncio
import contextlib
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
        expected = set(scrape_targets(settings))
        jobs: set[str] = set()
        async with httpx.AsyncClient(timeout=10) as client:
            # Targets appear as service discovery runs, not all at once: poll until every
            # job is there (or one is missing for 30 s, which fails below).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    while (jobs := await _active_jobs(client, base)) != expected:  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
            rules = (await client.get(f"{base}/rules")).json()["data"]["groups"]
        assert jobs == expected
        alerts = {r["name"] for g in rules for r in g["rules"]}
        assert {"VppIngestStalled", "VppFleetOffline", "VppDispatchFailureRatio"} <= alerts
    finally:
        stack.down()
    assert all(r.state is not State.RUNNING for r in await stack.status())


async def _active_jobs(client: httpx.AsyncClient, base: str) -> set[str]:
    targets: list[dict[str, Any]] = (await client.get(f"{base}/targets")).json()["data"][
        "activeTargets"
    ]
    return {t["labels"]["job"] for t in targets}
