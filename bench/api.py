"""Benchmark (not a test): the cached aggregate query's latency at a fixed request rate.

    python bench/api.py [--rate 200] [--duration 30] [--nodes 20000] [--url URL]

Against the stack the settings point at (`VPP_*` variables; best a stack of its own,
e.g. the test stack's), it seeds the live state of `--nodes` nodes `bench-00001`... in
Redis as the ingester leaves it (they count in the fleet's aggregate while it runs and
are removed at the end), starts the API as its own process (`python -m vpp.api`) unless
`--url` names a running one, takes a viewer token from Keycloak, and sends the fleet's
aggregate query at `--rate` requests per second, open loop: each request is timed from
when it was due, not from when it went out, so a slow server cannot hide its backlog (no
coordinated omission). GraphQL (`{ aggregate { ... } }`) and REST (`GET /api/aggregate`)
alternate. The aggregate is cached in Redis for `settings.ingest.aggregate_cache_s`;
when it expires the API recomputes it over the whole fleet in its worker process while
the requests meanwhile get the previous value (`vpp.services.aggregate`); all of that
is inside the figures.

Prints p50/p90/p99/max per endpoint and overall, and the API's own view from its
`/metrics` histogram; the design's target is p99 <= 20 ms at 200 req/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.config import Settings, get_settings
from vpp.store.live_state import LiveReading, LiveStateWriter, epoch_ms

GRAPHQL = {
    "query": "{ aggregate { totalPowerKw avgSoc avgFreq nodeCount onlineNodes freqStatus } }"
}


def bench_ids(nodes: int) -> list[str]:
    return [f"bench-{n:05d}" for n in range(1, nodes + 1)]


async def seed_live_state(settings: Settings, nodes: int) -> None:
    """The latest state of `nodes` nodes (`bench-00001`...), as the ingester writes it
    (batches of 500); `remove_live_state` takes them out again."""
    redis = Redis.from_url(settings.redis.url)
    writer = LiveStateWriter(redis, RedisNames())
    now = datetime.now(UTC)
    ids = bench_ids(nodes)
    try:
        for start in range(0, nodes, 500):
            batch = []
            for n in range(start, min(nodes, start + 500)):
                dc_id = ids[n]
                doc = {
                    "dc_id": dc_id,
                    "seq": 1,
                    "timestamp": now.isoformat(),
                    "received_at": now.isoformat(),
                    "soc": 50.0 + n % 40,
                    "power_kw": 5.0 + n % 7,
                    "freq": 50.0,
                }
                batch.append(LiveReading(dc_id, epoch_ms(now), orjson.dumps(doc)))
            await writer.publish_batch(batch, epoch_ms(now))
    finally:
        await redis.aclose()


async def remove_live_state(settings: Settings, nodes: int) -> None:
    redis = Redis.from_url(settings.redis.url)
    names = RedisNames()
    ids = bench_ids(nodes)
    try:
        for start in range(0, len(ids), 1_000):
            chunk = ids[start : start + 1_000]
            pipe = redis.pipeline(transaction=False)
            for key in names.all_keys():
                pipe.hdel(key, *chunk)
            await pipe.execute()
        await redis.delete(names.aggregate_cache(None))
    finally:
        await redis.aclose()


async def viewer_token(settings: Settings) -> str:
    keycloak = settings.keycloak
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{keycloak.issuer}/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": keycloak.automation_client_id,
                "client_secret": keycloak.automation_client_secret.get_secret_value(),
                "username": "vpp-viewer",
                "password": "vpp-viewer-dev",
            },
        )
    response.raise_for_status()
    return str(response.json()["access_token"])


@contextlib.asynccontextmanager
async def api_process(settings: Settings, url: str | None) -> AsyncIterator[str]:
    """A running API's base URL: `url`, or an API started here for the run."""
    if url is not None:
        yield url
        return
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "vpp-bench-api.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, waited on below
            [sys.executable, "-m", "vpp.api"], stdout=out, stderr=subprocess.STDOUT
        )
    base = settings.api.url
    try:
        async with httpx.AsyncClient() as http:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the API did not start; see {log}")
                await asyncio.sleep(0.2)  # polling a process that offers no event
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def report(name: str, latencies_ms: list[float]) -> str:
    values = sorted(latencies_ms)
    return (
        f"{name:8s} n={len(values):6d}  p50={percentile(values, 50):6.2f}  "
        f"p90={percentile(values, 90):6.2f}  p99={percentile(values, 99):6.2f}  "
        f"max={values[-1] if values else float('nan'):7.2f} ms"
    )


class Connection:
    """A minimal HTTP/1.1 keep-alive client: the load generator shares the API's two cores,
    and httpx costs more CPU per request (~1.9 ms here) than the API itself (~1 ms), which
    would measure the client's backlog instead of the server."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self._host, self._port = host, port
        body = orjson.dumps(GRAPHQL)
        auth = f"Authorization: Bearer {token}\r\nHost: {host}:{port}\r\n"
        self.requests = {
            "graphql": (
                f"POST /graphql HTTP/1.1\r\n{auth}Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body,
            "rest": f"GET /api/aggregate HTTP/1.1\r\n{auth}\r\n".encode(),
        }
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    async def send(self, kind: str) -> tuple[int, bytes]:
        assert self._reader is not None
        assert self._writer is not None
        self._writer.write(self.requests[kind])
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        return status, body


async def load(base: str, token: str, rate: float, duration_s: float, workers: int) -> int:
    """Open loop at `rate`: request i is due at start + i / rate; `workers` keep-alive
    connections take the due requests in turn, and each is timed from its due time (a
    request that waits for a free connection counts its wait)."""
    url = httpx.URL(base)
    host, port = url.host, url.port or 80
    results: dict[str, list[float]] = {"graphql": [], "rest": []}
    errors: list[str] = []
    total = int(rate * duration_s)
    next_index = 0
    ready = asyncio.Event()
    start = 0.0
    timeline: list[tuple[float, float]] = []

    async def worker() -> None:
        nonlocal next_index
        conn = Connection(host, port, token)
        await conn.open()
        try:
            for kind in ("graphql", "rest"):  # warm: the connection, token check, cache
                status, body = await conn.send(kind)
                if status != 200:
                    raise RuntimeError(f"warm-up {kind}: {status} {body[:200]!r}")
            await ready.wait()
            while next_index < total:
                index = next_index
                next_index += 1
                kind = "graphql" if index % 2 == 0 else "rest"
                due = start + index / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)  # the open-loop schedule
                status, body = await conn.send(kind)
                elapsed_ms = (time.perf_counter() - due) * 1000
                if status == 200 and b'"errors"' not in body:
                    results[kind].append(elapsed_ms)
                    timeline.append((due - start, elapsed_ms))
                else:
                    errors.append(f"{status} {body[:200]!r}")
        finally:
            await conn.close()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await asyncio.sleep(2.0)  # the workers' warm-up
    start = time.perf_counter() + 0.1
    ready.set()
    await asyncio.gather(*tasks)
    took = time.perf_counter() - start
    print(f"{total} requests due at {rate:.0f}/s over {duration_s:.0f} s, done in {took:.1f} s")
    print(f"errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    for kind, values in results.items():
        print(report(kind, values))
    print(report("all", results["graphql"] + results["rest"]))
    slow = sorted(t for t, ms in timeline if ms > 20)
    if slow and os.environ.get("VPP_BENCH_TIMELINE"):
        print("slow requests (> 20 ms) by second:", dict(Counter(int(t) for t in slow)))
    return len(errors)


async def server_side(base: str, before: dict[str, float]) -> None:
    """The API's own view from its `vpp_api_request_seconds` histogram: time from the
    request reaching the app to its answer, without the kernel's and client's share."""
    after = await histogram(base)
    counts = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    total = counts.get("+Inf", 0.0)
    if not total:
        return
    bounds = sorted((float(le), n) for le, n in counts.items() if le != "+Inf")
    cells = []
    for target in (50, 90, 99):
        bound = next((le for le, n in bounds if n >= total * target / 100), float("inf"))
        cells.append(f"p{target}<={bound * 1000:g}")
    print(f"server   n={int(total):6d}  " + "  ".join(cells) + " ms (histogram bucket bounds)")


async def histogram(base: str) -> dict[str, float]:
    """Cumulative bucket counts of the two aggregate routes together, by `le`."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{base}/metrics")).text
    buckets: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("vpp_api_request_seconds_bucket"):
            continue
        if 'route="/api/aggregate"' not in line and 'route="/graphql"' not in line:
            continue
        le = line.split('le="', 1)[1].split('"', 1)[0]
        buckets[le] = buckets.get(le, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


async def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    print(f"seeding the live state of {args.nodes} nodes")
    await seed_live_state(settings, args.nodes)
    try:
        token = await viewer_token(settings)
        async with api_process(settings, args.url) as base:
            print(f"API at {base}; aggregate cached {settings.ingest.aggregate_cache_s:.0f} s")
            before = await histogram(base)
            errors = await load(base, token, args.rate, args.duration, args.workers)
            await server_side(base, before)
    finally:
        await remove_live_state(settings, args.nodes)
    return 1 if errors else 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--nodes", type=int, default=20_000, help="nodes in the live state")
    parser.add_argument("--workers", type=int, default=32, help="client connections")
    parser.add_argument("--url", help="a running API (default: start one)")
    sys.exit(asyncio.run(main(parser.parse_args())))


if __name__ == "__main__":
    cli()
