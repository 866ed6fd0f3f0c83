"""Dispatch benchmark: mutation -> workflows -> MQTT -> simulated nodes -> acks -> live progress.

Not a test: run it against a running stack (Temporal, MongoDB, Redis, Mosquitto), e.g. the
test stack of an offset (its ports exported) or `vpp stack up`:

    python bench/dispatch.py --nodes 1000

What it does:
1. registers nodes `node-00001` ... (the kinds the simulator gives them) in the database;
2. starts, each as its own process, the edge simulator (`python -m vpp.edge_sim.command`,
   no telemetry to speak of), the I/O worker (`python -m vpp.workers.io`) and the ack relay
   (`python -m vpp.dispatch.relay`);
3. dispatches a charge of `--kw` kW for `--duration` s to every node through
   `DispatchService.start_dispatch`, listening on the dispatch's Redis progress channel
   as a live subscriber would; then again with `--drop-share` of the acks lost (the
   simulator's fault API: that share of nodes, picked at random, loses both its answers,
   so only the workflow's resends can bring their final status);
4. reports, from the `start_dispatch` call: p50/p95/max time to each node's first answer
   and to its final status, the total, the nodes' attempts, that no node applied a
   command twice (the simulator's count), and the Temporal history (events, bytes) of the
   parent and each shard.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pymongo import ReplaceOne
from redis.asyncio import Redis
from temporalio.client import Client

from vpp.config import Settings, get_settings
from vpp.dispatch.documents import init_dispatch_store
from vpp.dispatch.ids import new_dispatch_id, shard_workflow_id
from vpp.dispatch.models import (
    FINAL_NODE_STATUSES,
    DispatchRequest,
    DispatchResult,
    DispatchStarted,
    NodeStatus,
)
from vpp.dispatch.progress import progress_subscription
from vpp.dispatch.service import DispatchService
from vpp.dispatch.settings import dispatch_settings
from vpp.edge_sim.node import is_home
from vpp.models import Action, CommandParams, NodeKind
from vpp.stack import Stack
from vpp.store.database import Database, init_store, mongo_client
from vpp.store.documents import NODES, GeoPoint, NodeSpec
from vpp.temporal_client import connect
from vpp.workers.io import READY_LINE

ROOT = Path(__file__).resolve().parents[1]
ISSUER = "bench"
ANSWERED = frozenset({NodeStatus.ACCEPTED, NodeStatus.COMPLETED, NodeStatus.REJECTED})
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def node_id(settings: Settings, n: int) -> str:
    return settings.mqtt.node_id_format.format(n=n)


async def register(db: Database, settings: Settings, count: int) -> list[str]:
    ops = []
    ids = []
    for n in range(1, count + 1):
        home = is_home(n, settings.edge_sim.home_share)
        spec = NodeSpec(
            dc_id=node_id(settings, n),
            kind=NodeKind.HOME_DER if home else NodeKind.EDGE_DC,
            hostname=f"bench-{n}",
            location=GeoPoint(lat=34.1, lon=-117.4),
            capacity_kw=10.0 if home else 200.0,
            battery_kwh=13.5 if home else 200.0,
        )
        ops.append(ReplaceOne({"dc_id": spec.dc_id}, spec.model_dump(), upsert=True))
        ids.append(spec.dc_id)
    await db[NODES].bulk_write(ops, ordered=False)
    return ids


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def stack_pids(settings: Settings) -> dict[str, int]:
    """The stack's servers that run here (for their CPU)."""
    stack = Stack(settings)
    pids = {s.name: stack.record(s).pid() for s in stack.servers}
    return {name: pid for name, pid in pids.items() if pid is not None and name != "keycloak"}


class Process:
    """A platform process, its log in a file."""

    def __init__(self, name: str, args: list[str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.log = log_dir / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, *self.args, cwd=ROOT, stdout=out, stderr=out
            )

    async def wait_for_line(self, text: str, timeout_s: float = 120.0) -> None:
        # The process says it is ready in its log; nothing else tells, so this polls.
        async with asyncio.timeout(timeout_s):
            while text not in self.log.read_text(errors="replace"):
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise RuntimeError(f"{self.name} exited; see {self.log}")
                await asyncio.sleep(0.1)

    def cpu_s(self) -> float:
        assert self.proc is not None
        return cpu_s(self.proc.pid)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@dataclass
class RunResult:
    label: str
    started_s: float
    first_answer: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    attempts: Counter[int] = field(default_factory=Counter)
    total_s: float = 0.0
    history: list[tuple[str, int, int]] = field(default_factory=list)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def line(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:<28} (none)"
    return (
        f"  {label:<28} p50 {pct(values, 0.50):6.3f} s   p95 {pct(values, 0.95):6.3f} s"
        f"   p99 {pct(values, 0.99):6.3f} s   max {max(values):6.3f} s"
    )


@dataclass(frozen=True)
class Bench:
    service: DispatchService
    temporal: Client
    redis: Redis
    nodes: list[str]
    args: argparse.Namespace


async def one_dispatch(label: str, bench: Bench) -> RunResult:
    service, temporal, redis, nodes, args = (
        bench.service,
        bench.temporal,
        bench.redis,
        bench.nodes,
        bench.args,
    )
    request = DispatchRequest(
        targets=nodes,
        action=Action.CHARGE,
        params=CommandParams(kw=args.kw, duration_s=args.duration),
        request_id=f"bench-{uuid.uuid4().hex[:12]}",
    )
    dispatch_id = new_dispatch_id(ISSUER, request.request_id)
    async with progress_subscription(redis, dispatch_id) as progress:
        t0 = time.perf_counter()
        started: DispatchStarted = await service.start_dispatch(request, issuer=ISSUER)
        run = RunResult(label, time.perf_counter() - t0)
        async with asyncio.timeout(args.timeout):
            async for message in progress:
                now = time.perf_counter() - t0
                for node in message.nodes:
                    if node.status in ANSWERED:
                        run.first_answer.setdefault(node.dc_id, now)
                    if node.status in FINAL_NODE_STATUSES:
                        run.final.setdefault(node.dc_id, now)
                if len(run.final) >= len(nodes):
                    break
        run.total_s = time.perf_counter() - t0
    handle = temporal.get_workflow_handle(started.workflow_id, result_type=DispatchResult)
    result = await handle.result()
    run.statuses = Counter({k: v for k, v in result.counts.model_dump().items() if v})
    detail = await service.get_dispatch(dispatch_id)
    assert detail is not None
    run.attempts = Counter(entry.attempts for entry in detail.nodes)
    for workflow_id in [
        started.workflow_id,
        *(shard_workflow_id(dispatch_id, k) for k in range(started.shard_count)),
    ]:
        info = (await temporal.get_workflow_handle(workflow_id).describe()).raw_description
        execution = info.workflow_execution_info
        run.history.append((workflow_id, execution.history_length, execution.history_size_bytes))
    return run


def report(run: RunResult, nodes: int, duration_s: int) -> None:
    print(f"\n== {run.label}: {nodes} nodes, charge for {duration_s} s ==")
    print(f"  start_dispatch returned after {run.started_s:.3f} s (targets checked)")
    print(line("to first answer", list(run.first_answer.values())))
    print(line("to final status", list(run.final.values())))
    print(f"  all {len(run.final)} final after {run.total_s:.3f} s")
    print(
        f"  statuses {dict(run.statuses)}; attempts per node {dict(sorted(run.attempts.items()))}"
    )
    events = sum(h[1] for h in run.history)
    size = sum(h[2] for h in run.history)
    workflows = len(run.history)
    print(f"  Temporal history: {events} events, {size / 1024:.0f} KiB in {workflows} workflows")
    for workflow_id, length, size_bytes in run.history:
        print(f"    {workflow_id:<48} {length:5d} events {size_bytes / 1024:8.1f} KiB")


def platform_processes(args: argparse.Namespace, status_port: int, log_dir: Path) -> list[Process]:
    sim_args = ["--nodes", str(args.nodes), "--first-node", "1", "--interval", "3600"]
    return [
        Process(
            "edge-sim",
            ["-m", "vpp.edge_sim.command", *sim_args, "--status-port", str(status_port)],
            log_dir,
        ),
        Process("worker", ["-m", "vpp.workers.io", "--instance", "bench"], log_dir),
        Process("relay", ["-m", "vpp.dispatch.relay", "--instance", "bench"], log_dir),
    ]


async def wait_ready(processes: list[Process], sim_api: httpx.AsyncClient, nodes: int) -> None:
    _sim, worker, relay = processes
    await worker.wait_for_line(READY_LINE)
    await relay.wait_for_line("relaying acks")
    # Every node connected (the simulator's health, polled: no event to wait on).
    async with asyncio.timeout(120):
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await sim_api.get("/health")).json()["connected"] == nodes:
                    return
            await asyncio.sleep(0.2)


async def lose_acks(sim_api: httpx.AsyncClient, nodes: list[str], args: argparse.Namespace) -> str:
    """Make `drop_share` of all acks go missing: that share of nodes loses both answers."""
    lossy = random.Random(args.seed).sample(nodes, round(args.drop_share * len(nodes)))
    for node in lossy:
        fault = {"node_id": node, "kind": "drop_acks", "count": 2}
        (await sim_api.post("/faults", json=fault)).raise_for_status()
    return f"{args.drop_share:.0%} of acks lost ({len(lossy)} nodes lose both answers)"


class CpuMeter:
    """CPU seconds of the platform's processes and the stack's servers over a span."""

    def __init__(self, settings: Settings, processes: list[Process]) -> None:
        self._pids = {p.name: p.proc.pid for p in processes if p.proc is not None}
        self._pids |= stack_pids(settings)
        self._pids["bench"] = os.getpid()
        self._start = {name: cpu_s(pid) for name, pid in self._pids.items()}

    def used(self) -> dict[str, float]:
        return {name: cpu_s(pid) - self._start[name] for name, pid in self._pids.items()}


async def main(args: argparse.Namespace) -> None:
    settings = get_settings()
    log_dir = Path(args.log_dir)
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    mongo = mongo_client(settings.mongo)
    redis = Redis.from_url(settings.redis.url)
    db = mongo[settings.mongo.database]
    await init_store(db, settings.mongo)
    await init_dispatch_store(db)
    nodes = await register(db, settings, args.nodes)
    status_port = free_port()
    processes = platform_processes(args, status_port, log_dir)
    try:
        for process in processes:
            await process.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{status_port}") as sim_api:
            await wait_ready(processes, sim_api, args.nodes)
            temporal = await connect(settings.temporal)
            options = dispatch_settings(settings).model_copy(
                update={
                    "log_interval_s": args.log_interval,
                    "resend_initial_s": args.resend_initial,
                }
            )
            service = DispatchService(temporal, db, settings, options=options)
            bench = Bench(service, temporal, redis, nodes, args)
            cpu = CpuMeter(settings, processes)
            runs = [await one_dispatch("no loss", bench)]
            label = await lose_acks(sim_api, nodes, args)
            runs.append(await one_dispatch(label, bench))
            used = cpu.used()
            states = (await sim_api.get("/nodes")).json()
        for run in runs:
            report(run, len(nodes), args.duration)
        applied = Counter(s["applied_commands"] for s in states)
        dropped = sum(s["acks_dropped"] for s in states)
        print(f"\ncommands applied per node over both runs: {dict(applied)} (2 = each once)")
        print(f"acks the simulator dropped: {dropped}")
        wall = sum(run.total_s for run in runs)
        print(f"CPU seconds during both runs ({wall:.1f} s of wall time, {os.cpu_count()} cores):")
        print("  " + ", ".join(f"{k} {v:.1f}" for k, v in sorted(used.items())))
    finally:
        for process in reversed(processes):
            await process.stop()
        await redis.aclose()
        await mongo.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--kw", type=float, default=1.0)
    parser.add_argument("--duration", type=int, default=1, help="command length, s")
    parser.add_argument("--drop-share", type=float, default=0.05, help="share of acks lost")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log-interval", type=float, default=2.0, help="s between log writes")
    parser.add_argument("--resend-initial", type=float, default=1.0, help="first resend, s")
    parser.add_argument("--log-dir", default="/tmp/vpp-bench-dispatch")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
