"""Load and fault suite (not a test): ingest, dispatch and API load together on a stack of
its own while the broker, the store and the I/O worker are killed and restarted on a
timer; then it checks that nothing was lost, applied twice or left open.

    .venv/bin/python -m bench.load_fault --duration 300 --nodes 300 --rate 1000

Run from the repository root. It sets up a stack beside any other (ports shifted by
`--port-offset` from the test suite's, 500 by default; data in `.vpp-bench/`), starts the
five servers through `vpp.stack` (reusing any already up there) and the platform's own
processes (ingest, I/O worker, ack relay, API) as `vpp platform up` does, all on a fresh
database `vpp_lf_<time>`, then for `--duration` seconds at once:

- ingest load: `--nodes` simulated nodes (the edge simulator's `Fleet`, in a process of its
  own) publish at `--rate` readings/s in all over MQTT QoS 1 to the real ingester; each
  node's store-and-forward buffer carries its readings across broker outages;
- dispatch load: every `--dispatch-every` s a dispatch to `--dispatch-nodes` random nodes
  through `DispatchService` (the workflows run on the real Temporal server, I/O worker
  and ack relay);
- API load: the cached aggregate over GraphQL and REST at `--api-rate` req/s, open loop,
  with a viewer's Keycloak token;
- faults (`--faults`, default one round over broker, store, worker spread over the run):
  the broker and the store are stopped the way `vpp stack down` stops them (SIGTERM, or
  SIGKILL with `--hard`) and started again with `vpp stack up` after `--outage` s; the I/O
  worker is SIGKILLed and started again at once.

Then the checks: every reading each node generated is in the store exactly once (per-node
seq, no gap, no repeat); every node of every dispatch has a final status in
`dispatch_log`; no node applied a command id twice (the simulator counts applications per
command id); every platform process and server still runs (besides the ones killed on
purpose, which must run again). It prints the figures and writes a PNG of throughput and
latency over time with the faults marked (`--plot`, default `.vpp-bench/load_fault.png`).
Exit status 0 only when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OFFSET = 500

# The test suite's ports (tests/conftest.py), which this shifts again by --port-offset so
# the bench's stack runs beside the developer's and the tests' stacks.
_TEST_PORTS = {
    "VPP_TEMPORAL__PORT": 17233,
    "VPP_TEMPORAL__UI_PORT": 18233,
    "VPP_TEMPORAL__HTTP_PORT": 17243,
    "VPP_TEMPORAL__METRICS_PORT": 17244,
    "VPP_MONGO__PORT": 27117,
    "VPP_REDIS__PORT": 16379,
    "VPP_MQTT__PORT": 11883,
    "VPP_KEYCLOAK__PORT": 18080,
    "VPP_KEYCLOAK__MANAGEMENT_PORT": 19000,
    "VPP_API__PORT": 18000,
    "VPP_INGEST__METRICS_PORT": 19101,
    "VPP_EDGE_SIM__STATUS_PORT": 18101,
    "VPP_METRICS__IO_WORKER_PORT": 19102,
    "VPP_METRICS__ML_WORKER_PORT": 19103,
    "VPP_METRICS__IO_WORKER_SDK_PORT": 19104,
    "VPP_METRICS__ML_WORKER_SDK_PORT": 19105,
    "VPP_METRICS__ACK_RELAY_PORT": 19106,
    "VPP_METRICS__PROMETHEUS_PORT": 19090,
}
SERVER_OF = {"broker": "mqtt", "store": "mongo"}
PLATFORM = ("ingest", "worker", "ack-relay", "api")
ISSUER = "bench-load-fault"


def bench_env(offset: int, stamp: str, nodes: int) -> dict[str, str]:
    """The environment of the bench and every process it starts: its own ports, data
    directory, database and ingester name. The process's environment wins where it sets
    the data directory or a port, so a stack elsewhere can be targeted."""
    env = {name: str(port + offset) for name, port in _TEST_PORTS.items()}
    env["VPP_STACK__DATA_DIR"] = str(ROOT / ".vpp-bench")
    env["VPP_MQTT__NODE_ACCOUNTS"] = str(max(2000, nodes))
    env = {k: os.environ.get(k, v) for k, v in env.items()}
    # A fresh database and ingester session per run, so the counts are this run's alone.
    env["VPP_MONGO__DATABASE"] = f"vpp_lf_{stamp}"
    env["VPP_INGEST__INSTANCE"] = f"lf-{stamp}"
    return env


# -- the simulated fleet, in a process of its own --------------------------------------------


async def sim_worker(nodes: int, interval_s: float, drain_s: float) -> None:
    """The edge simulator's fleet, counting applications per command id; prints a JSON
    progress line a second and, after SIGINT/SIGTERM and a drain, a final one."""
    import gc
    import logging

    from vpp.config import get_settings
    from vpp.edge_sim.fleet import Fleet
    from vpp.edge_sim.session import gmqtt_log

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    gmqtt_log.setLevel(logging.CRITICAL)  # a broker restart makes every node log its retries

    class CountingFleet(Fleet):
        """The fleet, also counting how often each node applied each command id."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.applications: dict[str, Counter[str]] = {}

        def handle_command(self, node_id: str, payload: bytes) -> None:
            node = self.node(node_id)
            before = node.applied_commands
            super().handle_command(node_id, payload)
            if node.applied_commands > before and node.active is not None:
                per_node = self.applications.setdefault(node_id, Counter())
                per_node[node.active.command.command_id] += 1

    settings = get_settings()
    sim = settings.edge_sim.model_copy(
        update={"nodes": nodes, "interval_s": interval_s, "first_node": 1}
    )
    fleet = CountingFleet(settings.model_copy(update={"edge_sim": sim}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    fleet.start(sampling=False)
    gc.collect()
    gc.freeze()  # the fleet lives as long as the run: keep it out of full collections

    def progress() -> dict[str, Any]:
        links = [fleet.link(n) for n in fleet.node_ids]
        return {
            "t": time.time(),
            "generated": sum(fleet.node(n).seq for n in fleet.node_ids),
            "sent": sum(link.stats.sent for link in links),
            "buffered": sum(len(link.buffer) for link in links),
            "resent": sum(link.stats.resent for link in links),
            "connected": sum(link.connected for link in links),
        }

    def say(record: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()

    # Connect every node first; sampling starts when the parent says so (SIGUSR1), so
    # the offered rate is steady from the start of the measured run.
    go = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, go.set)
    while not go.is_set() and not stop.is_set():
        say(progress())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(go.wait(), 1.0)
    fleet.start()  # the links run already; this adds the fleet's sampler
    while not stop.is_set():
        say(progress())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    drained = await fleet.stop(drain_timeout_s=drain_s)  # stops sampling, then drains
    say(
        {
            "final": True,
            "drained": drained,
            "next_seq": {n: fleet.node(n).seq for n in fleet.node_ids},
            "dropped": {n: fleet.link(n).buffer.dropped for n in fleet.node_ids},
            "pending": sum(fleet.link(n).pending for n in fleet.node_ids),
            "applications": {n: dict(c) for n, c in fleet.applications.items()},
            **progress(),
        }
    )


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Fault:
    target: str
    planned_s: float
    down_s: float = 0.0  # when it was killed, from the start of the load
    up_s: float = 0.0  # when it answered again
    how: str = ""
    error: str | None = None


@dataclass
class DispatchRun:
    dispatch_id: str
    nodes: list[str]
    issued_s: float  # from the start of the load: the first attempt
    start_attempts: int = 0
    start_error: str | None = None
    final_s: dict[str, float] = field(default_factory=dict)  # node -> seconds to final
    statuses: dict[str, str] = field(default_factory=dict)  # from dispatch_log at the end
    status: str | None = None  # the dispatch's own, at the end


@dataclass
class Observed:
    """Everything the load tasks saw, in seconds from the start of the load."""

    start: float = 0.0
    sim: list[dict[str, Any]] = field(default_factory=list)
    # The live channel's readings: arrival (epoch s), publish -> live s, publish -> ingester s
    live: list[tuple[float, float, float]] = field(default_factory=list)
    api: list[tuple[float, float, bool]] = field(default_factory=list)  # due, latency ms, ok
    api_errors: Counter[str] = field(default_factory=Counter)
    dispatches: list[DispatchRun] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def now(self) -> float:
        return time.time() - self.start

    def live_latency(self) -> list[tuple[float, float]]:
        """(arrival from the start of the load, publish -> live s) of every reading."""
        return [(arrived - self.start, latency) for arrived, latency, _ in self.live]


@dataclass
class Checks:
    readings: Any  # bench.faults.ReadingCheck
    duplicates: int
    applied: int
    unfinished: list[str] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)
    crashed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    ingest: dict[str, float] = field(default_factory=dict)  # the ingester's /metrics
    load_end: float = 0.0
    stored_count: int = 0
    passed: bool = False


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        # Imported here so `--sim-worker` and the unit tests need none of it.
        from vpp.config import get_settings
        from vpp.stack import Stack
        from vpp.stack.platform import PLATFORM_TYPES

        self.args = args
        self.settings = get_settings()
        self.servers = Stack(self.settings)
        self.platform = Stack(self.settings, only=PLATFORM, server_types=PLATFORM_TYPES)
        self.seen = Observed()
        self.pids: dict[str, int | None] = {}
        self.stop_load = asyncio.Event()
        self.sim: asyncio.subprocess.Process | None = None
        self.sim_final: dict[str, Any] = {}
        self.service: Any = None  # the DispatchService, once the dispatch load runs

    # -- processes ------------------------------------------------------------------------

    def pid_of(self, name: str) -> int | None:
        stack = self.platform if name in PLATFORM else self.servers
        server = next(s for s in stack.servers if s.name == name)
        return stack.record(server).pid()

    async def up(self, stack_name: str, names: list[str]) -> None:
        from vpp.stack import Stack
        from vpp.stack.platform import PLATFORM_TYPES

        if stack_name == "platform":
            stack = Stack(self.settings, only=names, server_types=PLATFORM_TYPES)
        else:
            stack = Stack(self.settings, only=names)
        for report in await stack.up():
            print(f"  {report.line()}", flush=True)
        for name in names:
            self.pids[name] = self.pid_of(name)

    async def start_sim(self) -> None:
        self.sim = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.load_fault",
            "--sim-worker",
            f"{self.args.nodes}:{self.args.nodes / self.args.rate}:{self.args.drain_timeout}",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=(ROOT / ".vpp-bench" / "logs" / "load-fault-sim.log").open("ab"),
            limit=64 * 1024 * 1024,  # the final line carries every node's counts
        )
        assert self.sim.stdout is not None
        async with asyncio.timeout(120):
            while True:
                line = await self.sim.stdout.readline()
                if not line:
                    raise RuntimeError("the simulator exited; see .vpp-bench/logs")
                if json.loads(line)["connected"] == self.args.nodes:
                    return

    async def read_sim(self) -> None:
        assert self.sim is not None
        assert self.sim.stdout is not None
        while line := await self.sim.stdout.readline():
            record = json.loads(line)
            if record.get("final"):
                self.sim_final = record
                return
            record["t"] -= self.seen.start
            self.seen.sim.append(record)

    # -- load -------------------------------------------------------------------------------

    async def listen_live(self, ready: asyncio.Event) -> None:
        """The live channel, which gets a reading only once the store has it: arrivals
        per second are the stored rate, arrival - timestamp the reading's latency."""
        from redis.asyncio import Redis

        from bench.ingest import Live
        from vpp.bus.channels import RedisNames

        redis = Redis.from_url(self.settings.redis.url)
        live = Live()
        self.seen.live = live.arrivals  # (arrived, publish -> live, ...), filled as they come
        try:
            await live.listen(redis, RedisNames().telemetry_live, ready)
        finally:
            await redis.aclose()

    async def api_load(self) -> None:
        """Open loop at `--api-rate`: request i is due at start + i / rate and timed from
        then; a refused or failed request is counted, its connection opened again."""
        import httpx

        from bench.api import Connection, viewer_token

        url = httpx.URL(self.settings.api.url)
        host, port = url.host, url.port or 80
        rate = self.args.api_rate
        token = await viewer_token(self.settings)
        token_at = time.monotonic()
        next_index = 0

        async def refresh_token() -> str:
            # Access tokens live 5 minutes in the realm: take a fresh one well before.
            nonlocal token, token_at
            if time.monotonic() - token_at > 120:
                token_at = time.monotonic()
                with contextlib.suppress(httpx.HTTPError):
                    token = await viewer_token(self.settings)
            return token

        async def worker() -> None:
            nonlocal next_index
            conn: Connection | None = None
            used_token = ""
            while not self.stop_load.is_set():
                index = next_index
                next_index += 1
                due = self.seen.start + index / rate
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)  # the open-loop schedule
                kind = "graphql" if index % 2 == 0 else "rest"
                current = await refresh_token()
                try:
                    if conn is None or used_token != current:
                        if conn is not None:
                            await conn.close()
                        conn = Connection(host, port, current)
                        used_token = current
                        await conn.open()
                    async with asyncio.timeout(10):
                        status, body = await conn.send(kind)
                    ok = status == 200 and b'"errors"' not in body
                    if not ok:
                        self.seen.api_errors[f"{kind} {status}"] += 1
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                    ok = False
                    self.seen.api_errors[f"{kind} {type(exc).__name__}"] += 1
                    if conn is not None:
                        await conn.close()
                    conn = None
                self.seen.api.append((due - self.seen.start, (time.time() - due) * 1000, ok))
            if conn is not None:
                await conn.close()

        await asyncio.gather(*(worker() for _ in range(self.args.api_workers)))

    async def warm_api(self) -> None:
        """One request of each kind before the clock starts: the API's first token check
        fetches the realm's keys, which is start-up, not load."""
        import httpx

        from bench.api import Connection, viewer_token

        url = httpx.URL(self.settings.api.url)
        conn = Connection(url.host, url.port or 80, await viewer_token(self.settings))
        await conn.open()
        try:
            for kind in ("graphql", "rest", "graphql", "rest"):
                await conn.send(kind)
        finally:
            await conn.close()

    async def dispatch_load(self) -> None:
        from redis.asyncio import Redis

        from vpp.dispatch.service import DispatchService
        from vpp.store.database import mongo_client
        from vpp.temporal_client import connect

        temporal = await connect(self.settings.temporal)
        mongo = mongo_client(self.settings.mongo)
        redis = Redis.from_url(self.settings.redis.url)
        service = DispatchService(temporal, mongo[self.settings.mongo.database], self.settings)
        self.service = service
        rng = random.Random(self.args.seed)
        ids = [self.settings.mqtt.node_id_format.format(n=n) for n in range(1, self.args.nodes + 1)]
        tasks = []
        k = 0
        while not self.stop_load.is_set():
            nodes = sorted(rng.sample(ids, min(self.args.dispatch_nodes, len(ids))))
            tasks.append(asyncio.create_task(self.one_dispatch(service, redis, nodes, k)))
            k += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_load.wait(), self.args.dispatch_every)
        # Every dispatch runs to its end (or its timeout) before the checks.
        await asyncio.gather(*tasks)
        await redis.aclose()

    async def one_dispatch(self, service: Any, redis: Any, nodes: list[str], k: int) -> None:
        from vpp.dispatch.models import FINAL_NODE_STATUSES, DispatchRequest
        from vpp.dispatch.progress import progress_subscription
        from vpp.models import Action, CommandParams

        request = DispatchRequest(
            targets=nodes,
            action=Action.CHARGE if k % 2 == 0 else Action.DISCHARGE,
            params=CommandParams(kw=self.args.kw, duration_s=self.args.command_s),
            request_id=f"lf-{k}-{uuid.uuid4().hex[:8]}",
        )
        from vpp.dispatch.ids import new_dispatch_id

        run = DispatchRun(new_dispatch_id(ISSUER, request.request_id), nodes, self.seen.now())
        self.seen.dispatches.append(run)
        t0 = time.time()
        try:
            async with (
                asyncio.timeout(self.args.dispatch_timeout),
                progress_subscription(redis, run.dispatch_id) as progress,
            ):
                # Temporal is not among the faults, but the client call can still fail
                # while the machine is loaded: retry with the same request id, which finds
                # the same workflow (its id is the business key).
                while True:
                    run.start_attempts += 1
                    try:
                        await service.start_dispatch(request, issuer=ISSUER)
                        break
                    except Exception as exc:
                        run.start_error = f"{type(exc).__name__}: {exc}"
                        await asyncio.sleep(1.0)
                async for message in progress:
                    for node in message.nodes:
                        if node.status in FINAL_NODE_STATUSES:
                            run.final_s.setdefault(node.dc_id, time.time() - t0)
                    if len(run.final_s) >= len(nodes):
                        break
        except TimeoutError:
            pass  # the dispatch_log check at the end says which nodes never ended

    # -- faults -----------------------------------------------------------------------------

    async def inject(self, planned: list[Any]) -> None:
        for p in planned:
            await asyncio.sleep(max(0.0, p.at_s - self.seen.now()))  # the fault timer
            if self.stop_load.is_set():
                return
            fault = Fault(p.target, p.at_s)
            self.seen.faults.append(fault)
            try:
                await self.one_fault(fault)
            except Exception as exc:  # the run goes on; the report says what failed
                fault.error = f"{type(exc).__name__}: {exc}"
            print(
                f"  fault {fault.target}: down at {fault.down_s:.1f} s ({fault.how}), up at "
                f"{fault.up_s:.1f} s" + (f"; ERROR {fault.error}" if fault.error else ""),
                flush=True,
            )

    async def one_fault(self, fault: Fault) -> None:
        if fault.target == "worker":
            server = next(s for s in self.platform.servers if s.name == "worker")
            record = self.platform.record(server)
            pid = record.pid()
            if pid is None:
                raise RuntimeError("the I/O worker was not running")
            fault.down_s = self.seen.now()
            kill_group(pid, signal.SIGKILL)
            await wait_gone(record)
            fault.how = f"SIGKILL pid {pid}"
            await self.up("platform", ["worker"])
            fault.up_s = self.seen.now()
            return
        name = SERVER_OF[fault.target]
        server = next(s for s in self.servers.servers if s.name == name)
        record = self.servers.record(server)
        pid = record.pid()
        fault.down_s = self.seen.now()
        if self.args.hard and pid is not None:
            kill_group(pid, signal.SIGKILL)
            await wait_gone(record)
            fault.how = f"SIGKILL pid {pid}"
        else:
            await asyncio.to_thread(record.stop)  # vpp stack down's way: SIGTERM, then KILL
            fault.how = f"stack stop pid {pid}"
        await asyncio.sleep(self.args.outage)  # the outage
        await self.up("servers", [name])
        fault.up_s = self.seen.now()

    # -- the whole run --------------------------------------------------------------------------

    async def run(self) -> int:
        from bench.dispatch import register
        from bench.faults import parse_faults, plan_faults
        from vpp.dispatch.documents import init_dispatch_store
        from vpp.store.database import init_store, mongo_client

        args = self.args
        planned = (
            parse_faults(args.faults)
            if args.faults
            else plan_faults(args.duration, args.targets.split(","), args.rounds)
        )
        (ROOT / ".vpp-bench" / "logs").mkdir(parents=True, exist_ok=True)
        print(f"servers ({self.settings.stack.data_dir}):", flush=True)
        await self.up("servers", [s.name for s in self.servers.servers])
        mongo = mongo_client(self.settings.mongo)
        db = mongo[self.settings.mongo.database]
        await init_store(db, self.settings.mongo)
        await init_dispatch_store(db)
        await register(db, self.settings, args.nodes)
        print(f"database {db.name}: {args.nodes} nodes registered", flush=True)
        print("platform:", flush=True)
        await self.up("platform", list(PLATFORM))
        started_pids = dict(self.pids)
        outcome = 1
        try:
            print(f"simulator: {args.nodes} nodes connecting ...", flush=True)
            await self.start_sim()
            await self.warm_api()
            live_ready = asyncio.Event()
            listener = asyncio.create_task(self.listen_live(live_ready))
            await live_ready.wait()
            self.seen.start = time.time()
            assert self.sim is not None
            self.sim.send_signal(signal.SIGUSR1)  # sampling starts now
            reader = asyncio.create_task(self.read_sim())
            print(
                f"load for {args.duration:.0f} s; faults at "
                + ", ".join(f"{p.target}@{p.at_s:.0f}" for p in planned),
                flush=True,
            )
            loads = [
                asyncio.create_task(self.api_load()),
                asyncio.create_task(self.dispatch_load()),
            ]
            faults = asyncio.create_task(self.inject(planned))
            await asyncio.sleep(args.duration)  # the run's length
            load_end = self.seen.now()
            self.stop_load.set()
            await faults  # a fault in progress finishes: its server must come back
            self.sim.send_signal(signal.SIGINT)
            await asyncio.gather(*loads)
            await reader
            await self.sim.wait()
            stored = await self.wait_stored(db)
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            outcome = await self.check_and_report(db, load_end, stored, started_pids)
        finally:
            await self.teardown(mongo)
        return outcome

    async def wait_stored(self, db: Any) -> int:
        """Wait until the store holds every reading the nodes sent (or stops growing)."""
        from vpp.store.documents import TELEMETRY

        target = sum(self.sim_final.get("next_seq", {}).values())
        last, still_since = -1, time.monotonic()
        while True:
            count = await db[TELEMETRY].count_documents({})
            if count >= target:
                return int(count)
            if count != last:
                last, still_since = count, time.monotonic()
            elif time.monotonic() - still_since > self.args.settle:
                return int(count)
            await asyncio.sleep(1.0)  # the ingester gives no event for "all stored"

    async def check_and_report(
        self, db: Any, load_end: float, stored_count: int, started: dict[str, int | None]
    ) -> int:
        checks = await self.check(db, started)
        checks.load_end, checks.stored_count = load_end, stored_count
        self.report(checks)
        plot(Path(self.args.plot), self.seen, load_end, self.args)
        print(f"plot: {self.args.plot}")
        return 0 if checks.passed else 1

    async def check(self, db: Any, started: dict[str, int | None]) -> Checks:
        from bench.faults import check_readings, duplicate_applications, open_nodes
        from bench.ingest import scrape
        from vpp.dispatch.models import FINAL_NODE_STATUSES
        from vpp.store.documents import TELEMETRY

        final = self.sim_final
        stored: dict[str, list[int]] = {}
        async for doc in db[TELEMETRY].find({}, {"_id": 0, "dc_id": 1, "seq": 1}):
            stored.setdefault(doc["dc_id"], []).append(int(doc["seq"]))
        checks = Checks(
            readings=check_readings(final["next_seq"], stored, final["dropped"]),
            duplicates=duplicate_applications(final["applications"]),
            applied=sum(sum(c.values()) for c in final["applications"].values()),
        )
        statuses: dict[str, dict[str, str]] = {}
        for run in self.seen.dispatches:
            detail = await self.service.get_dispatch(run.dispatch_id)
            if detail is None:
                statuses[run.dispatch_id] = dict.fromkeys(run.nodes, "missing")
                continue
            run.status = detail.dispatch.status.value
            run.statuses = {e.dc_id: e.status.value for e in detail.nodes}
            statuses[run.dispatch_id] = {n: run.statuses.get(n, "missing") for n in run.nodes}
        checks.unfinished = open_nodes(statuses, {s.value for s in FINAL_NODE_STATUSES})
        checks.by_status = Counter(s for per in statuses.values() for s in per.values())
        for name, pid in self.pids.items():
            now = self.pid_of(name)
            if now is None or now != pid:
                checks.crashed.append(f"{name} (pid {pid} gone)")
        checks.restarted = [n for n, p in self.pids.items() if started.get(n) not in (None, p)]
        with contextlib.suppress(Exception):  # figures only; the checks above decide
            checks.ingest = await scrape(self.settings.ingest.metrics_port)
        return checks

    def report(self, c: Checks) -> None:
        from bench.faults import percentile

        args, seen, final, end = self.args, self.seen, self.sim_final, c.load_end
        in_run = [lat for t, lat in seen.live_latency() if t <= end]
        api_ok = [ms for _, ms, ok in seen.api if ok]
        to_final = [s for run in seen.dispatches for s in run.final_s.values()]
        r, m = c.readings, c.ingest
        store_errors = sum(v for k, v in m.items() if k.startswith("vpp_ingest_store_errors_total"))
        print("\n" + "=" * 78)
        print(f"load and fault run {self.settings.mongo.database} on {os.cpu_count()} cores")
        print(
            f"duration {end:.0f} s; {args.nodes} nodes, a reading every "
            f"{args.nodes / args.rate:.2f} s each; a dispatch to {args.dispatch_nodes} nodes "
            f"every {args.dispatch_every:.0f} s; API {args.api_rate:.0f} req/s"
        )
        print("-" * 78)
        print("faults injected:")
        for f in seen.faults:
            print(
                f"  {f.target:<7} down {f.down_s:6.1f} s  up {f.up_s:6.1f} s  "
                f"({f.up_s - f.down_s:4.1f} s, {f.how})" + (f" ERROR {f.error}" if f.error else "")
            )
        print(
            f"ingest: offered {final['generated'] / end:,.0f} msg/s ({final['generated']:,} "
            f"readings); stored {len(in_run) / end:,.0f} msg/s during the run; all "
            f"{c.stored_count:,} stored {max(0.0, self.seen_drained_s(end)):.0f} s after it"
        )
        print(
            f"  publish -> live  p50 {percentile(in_run, 0.5) * 1000:7.0f} ms  p99 "
            f"{percentile(in_run, 0.99) * 1000:7.0f} ms  max {max(in_run, default=0):7.1f} s"
        )
        print(
            f"  readings lost {r.lost}, stored twice {r.duplicates}, unexpected {r.unexpected}, "
            f"dropped by full edge buffers {r.dropped_at_edge}"
        )
        print(
            f"  nodes resent {self.resent()} unacknowledged readings; the ingester acknowledged "
            f"{m.get('vpp_ingest_messages_acknowledged_total', 0):,.0f}, stored "
            f"{m.get('vpp_ingest_readings_stored_total', 0):,.0f} (the rest were redeliveries "
            f"its unique key caught), store errors {store_errors:,.0f}; "
            f"simulator drained: {final['drained']}"
        )
        if r.nodes_with_gaps:
            print(f"  nodes with gaps: {', '.join(r.nodes_with_gaps[:10])}")
        commands = sum(len(run.nodes) for run in seen.dispatches)
        print(
            f"dispatch: {len(seen.dispatches)} dispatches, {commands} node commands; final "
            f"statuses {dict(c.by_status)}; dispatches "
            f"{dict(Counter(run.status for run in seen.dispatches))}"
        )
        print(
            f"  to final status p50 {percentile(to_final, 0.5):.2f} s  p95 "
            f"{percentile(to_final, 0.95):.2f} s  max {max(to_final, default=0):.2f} s "
            f"({len(to_final)} seen live)"
        )
        retried = [run for run in seen.dispatches if run.start_attempts > 1]
        if retried:
            print(f"  start retried for {len(retried)}: {retried[0].start_error}")
        print(f"  nodes without a final status: {len(c.unfinished)} {c.unfinished[:5]}")
        print(f"  commands applied {c.applied}, duplicate applications {c.duplicates}")
        print(
            f"API: {len(seen.api)} requests, {len(api_ok)} ok; p50 "
            f"{percentile(api_ok, 0.5):.1f} ms  p99 {percentile(api_ok, 0.99):.1f} ms  max "
            f"{max(api_ok, default=0):.1f} ms; failures {dict(seen.api_errors) or 'none'}"
        )
        print(
            f"processes: restarted on purpose {c.restarted or 'none'}; "
            f"crashed {c.crashed or 'none'}"
        )
        c.passed = (
            r.exact
            and r.dropped_at_edge == 0
            and c.duplicates == 0
            and not c.unfinished
            and not c.crashed
            and not any(f.error for f in seen.faults)
        )
        print(f"RESULT: {'PASS' if c.passed else 'FAIL'}")
        print("=" * 78)

    def seen_drained_s(self, load_end: float) -> float:
        return max((t for t, _ in self.seen.live_latency()), default=load_end) - load_end

    def resent(self) -> int:
        return int(self.sim_final.get("resent", 0))

    async def teardown(self, mongo: Any) -> None:
        if self.sim is not None and self.sim.returncode is None:
            self.sim.kill()
            await self.sim.wait()
        with contextlib.suppress(Exception):
            from bench.ingest import forget_session

            # The ingester keeps its session at the broker (as in production); this run's
            # name is never used again, so drop it rather than let it queue copies.
            for report in self.platform.down():
                print(f"  {report.line()}")
            await forget_session(self.settings, f"vpp-ingest-{self.settings.ingest.instance}")
        if not self.args.keep_db:
            with contextlib.suppress(Exception):
                await mongo.drop_database(self.settings.mongo.database)
        await mongo.close()
        if not self.args.keep_stack:
            for report in self.servers.down():
                print(f"  {report.line()}")


def kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


async def wait_gone(record: Any, timeout_s: float = 30.0) -> None:
    """Until the recorded process is gone (the record reaps it and clears its pid file)."""
    async with asyncio.timeout(timeout_s):
        while record.pid() is not None:  # noqa: ASYNC110 - a pid, not an event, to watch
            await asyncio.sleep(0.05)  # no event for a process of another session ending


# -- the plot --------------------------------------------------------------------------------


def plot(path: Path, seen: Observed, load_end: float, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bench.faults import per_bucket, percentile

    width = 5.0
    live = seen.live_latency()
    end = max([load_end, *(t for t, _ in live)]) + width
    edges = [i * width for i in range(len(per_bucket([], width, end)))]
    fig, (ax_rate, ax_ingest, ax_api) = plt.subplots(3, 1, figsize=(12, 10), sharex=True)

    sim = seen.sim
    offered = [
        (b["t"], (b["generated"] - a["generated"]) / max(1e-6, b["t"] - a["t"]))
        for a, b in itertools.pairwise(sim)
    ]
    ax_rate.plot([t for t, _ in offered], [r for _, r in offered], label="offered (generated)")
    stored = per_bucket(((t, 1.0) for t, _ in live), width, end)
    ax_rate.plot(edges, [len(b) / width for b in stored], label="stored (live channel)")
    ax_rate.plot(
        [b["t"] for b in sim], [b["buffered"] for b in sim], label="held in edge buffers", ls=":"
    )
    ax_rate.set_ylabel("readings/s (buffers: readings)")
    ax_rate.set_title("Telemetry throughput")

    lat = per_bucket(live, width, end)
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ax_ingest.plot(edges, [percentile(b, q) for b in lat], label=f"publish -> live {label}")
    for run in seen.dispatches:
        if run.final_s:
            ax_ingest.scatter(
                [run.issued_s], [percentile(list(run.final_s.values()), 0.95)], color="k", s=12
            )
    ax_ingest.scatter([], [], color="k", s=12, label="dispatch p95 to final status")
    ax_ingest.set_yscale("log")
    ax_ingest.set_ylabel("seconds (log)")
    ax_ingest.set_title("Telemetry latency and dispatch time to final status")

    api = per_bucket(((t, ms) for t, ms, ok in seen.api if ok), width, end)
    failed = per_bucket(((t, 1.0) for t, _, ok in seen.api if not ok), width, end)
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ax_api.plot(edges, [percentile(b, q) for b in api], label=f"API {label}")
    failures = [len(b) for b in failed]
    ax_api.bar(edges, failures, width=width, align="edge", alpha=0.3, label="failed")
    ax_api.set_yscale("log")
    ax_api.set_ylabel("ms (log); failed per bucket")
    ax_api.set_xlabel("seconds from the start of the load")
    ax_api.set_title(f"API: cached aggregate at {args.api_rate:.0f} req/s")

    colors = {"broker": "tab:red", "store": "tab:purple", "worker": "tab:brown"}
    for ax in (ax_rate, ax_ingest, ax_api):
        for f in seen.faults:
            ax.axvline(f.down_s, color=colors[f.target], lw=1.2)
            ax.axvline(f.up_s, color=colors[f.target], lw=1.0, ls="--")
        ax.axvline(load_end, color="grey", lw=0.8, ls=":")
        ax.grid(alpha=0.3)
    for f in seen.faults:
        ax_rate.annotate(
            f"{f.target} killed", (f.down_s, 1.0), xycoords=("data", "axes fraction"),
            rotation=90, va="top", ha="right", fontsize=8, color=colors[f.target],
        )  # fmt: skip
    for ax in (ax_rate, ax_ingest, ax_api):
        ax.legend(loc="upper right", fontsize=8)
    fig.suptitle("VPP load and fault run (solid: killed, dashed: back up, dotted: load ends)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--duration", type=float, default=300.0, help="seconds of load (default 300)")
    add("--nodes", type=int, default=300, help="simulated nodes (default 300)")
    add("--rate", type=float, default=1000.0, help="readings/s in all (default 1000)")
    add("--dispatch-every", type=float, default=15.0, help="seconds between dispatches")
    add("--dispatch-nodes", type=int, default=50, help="nodes per dispatch (default 50)")
    add("--kw", type=float, default=1.0, help="kW of each command")
    add("--command-s", type=int, default=1, help="each command's duration, s")
    add("--dispatch-timeout", type=float, default=300.0, help="s a dispatch may take")
    add("--api-rate", type=float, default=50.0, help="API requests/s (default 50)")
    add("--api-workers", type=int, default=8, help="API client connections")
    add("--targets", default="broker,store,worker", help="what --rounds kills, in order")
    add("--rounds", type=int, default=1, help="passes over --targets (default 1)")
    add("--faults", help="explicit faults instead, e.g. broker@60,store@140,worker@220")
    add("--outage", type=float, default=5.0, help="s the broker or store stays down")
    add("--hard", action="store_true", help="SIGKILL the broker and store instead of SIGTERM")
    add("--drain-timeout", type=float, default=120.0, help="s the nodes get to send the rest")
    add("--settle", type=float, default=30.0, help="s the store count may stay still at the end")
    add("--seed", type=int, default=7)
    add("--port-offset", type=int, default=DEFAULT_OFFSET, help="shift of the test ports")
    add("--plot", default=str(ROOT / ".vpp-bench" / "load_fault.png"), help="PNG to write")
    add("--keep-stack", action="store_true", help="leave the servers running")
    add("--keep-db", action="store_true", help="keep the run's database")
    add("--sim-worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.sim_worker:
        nodes, interval, drain = args.sim_worker.split(":")
        asyncio.run(sim_worker(int(nodes), float(interval), float(drain)))
        return
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    os.environ.update(bench_env(args.port_offset, stamp, args.nodes))
    raise SystemExit(asyncio.run(Bench(args).run()))


if __name__ == "__main__":
    main()
