"""Telemetry ingest benchmark: publishers -> Mosquitto -> `vpp ingest` -> MongoDB + Redis.

Not a test: run it against a stack of its own, e.g.

    export VPP_STACK__DATA_DIR=$PWD/.vpp-bench VPP_MONGO__PORT=27317 VPP_REDIS__PORT=16479 \\
           VPP_MQTT__PORT=11983 VPP_TEMPORAL__PORT=17333
    vpp stack up mongo redis mqtt
    python bench/ingest.py --publishers 2000 --rate 4000 --duration 120
    vpp stack down mongo redis mqtt

What it does, in one run:
1. registers the publishing nodes in a fresh database (`vpp_bench_<time>`);
2. measures the store's raw rate: `insert_many` of `--raw-docs` readings in batches of
   500, one at a time, into a scratch collection of the same layout and index;
3. starts the ingester as its own process (`python -m vpp.ingest.command`);
4. starts the load: `--procs` publisher processes, each holding its share of
   `--publishers` node connections (node accounts, QoS 1) and publishing at its share of
   `--rate`, every payload stamped with its publish time; or, with `--load-command`, any
   other load generator (e.g. the edge simulator) run for the duration;
5. listens on the Redis live channel as a live subscriber would;
6. reports: the sustained rate of readings stored (counted on the live channel, which
   gets a reading only after MongoDB has it) over the steady window, against the raw rate;
   p50/p99/max latency from the payload's timestamp to its arrival on the live channel;
   dead letters; stored = published exactly once; CPU of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shlex
import signal
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from gmqtt import Client as MqttClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from vpp.bus.channels import RedisNames
from vpp.bus.credentials import node_ids, node_password
from vpp.bus.topics import NodeChannel, node_topic
from vpp.config import Settings, get_settings
from vpp.stack import Stack
from vpp.store.database import Database, ensure_telemetry_collection, init_store, mongo_client
from vpp.store.documents import DEAD_LETTERS, TELEMETRY
from vpp.store.nodes import register_nodes, seed_node_specs

RAW_BATCH = 500
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


# -- load: one publisher process ---------------------------------------------------------


def payload(node_id: str, seq: int, rng_state: int) -> bytes:
    now = datetime.now(UTC)
    wobble = (rng_state % 1000) / 1000.0
    return orjson.dumps(
        {
            "dc_id": node_id,
            "seq": seq,
            "timestamp": now.isoformat(),
            "soc": 40.0 + 20.0 * wobble,
            "power_kw": -50.0 + 100.0 * wobble,
            "freq": 49.95 + 0.1 * wobble,
            "cpu_usage": 30.0 + 40.0 * wobble,
            "network_mb_sent": 1.2,
            "network_mb_recv": 0.8,
            "load_factor": wobble,
        }
    )


async def publisher_worker(
    first: int, count: int, rate: float, start_at: float, duration: float
) -> None:
    """Publish `rate` msg/s in all from nodes first..first+count-1, from `start_at` (epoch)
    for `duration` seconds; print a JSON summary."""
    settings = get_settings()
    mqtt = settings.mqtt
    ids = node_ids(mqtt, first + count - 1)[first - 1 :]
    clients = []
    for node_id in ids:
        client = MqttClient(f"bench-{node_id}-{uuid.uuid4().hex[:4]}")
        client.set_auth_credentials(node_id, node_password(mqtt, node_id))
        clients.append((node_id, client))
    for start in range(0, len(clients), 200):
        await asyncio.gather(
            *(
                c.connect(mqtt.host, mqtt.port, keepalive=120)
                for _, c in clients[start : start + 200]
            )
        )
    # The connections live as long as the load: keep them out of the collector's full
    # passes, whose pauses would show up as publish latency.
    gc.collect()
    gc.freeze()
    topics = [
        node_topic(mqtt.topic_prefix, node_id, NodeChannel.TELEMETRY) for node_id, _ in clients
    ]
    seqs = [0] * len(clients)
    await asyncio.sleep(max(0.0, start_at - time.time()))  # a start time shared by all workers
    sent = 0
    next_node = 0
    began = time.time()
    while (elapsed := time.time() - began) < duration:
        due = int(rate * elapsed) - sent
        for _ in range(due):
            node_id, client = clients[next_node]
            client.publish(topics[next_node], payload(node_id, seqs[next_node], sent * 7919), qos=1)
            seqs[next_node] += 1
            next_node = (next_node + 1) % len(clients)
            sent += 1
        await asyncio.sleep(0.005)  # pacing tick of the load generator
    # Let in-flight QoS 1 messages reach the broker before disconnecting.
    await asyncio.sleep(1.0)
    await asyncio.gather(*(c.disconnect() for _, c in clients), return_exceptions=True)
    sys.stdout.write(
        orjson.dumps({"published": sent, "seconds": time.time() - began}).decode() + "\n"
    )


# -- measurement helpers -------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants (not those of this very process, which
    are the ingester and the load, counted on their own)."""
    total = 0.0
    for each in [pid] if pid == os.getpid() else [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    return total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def renice(pids: list[int], niceness: int) -> None:
    """Set the niceness of every thread of these processes (on Linux it is per thread)
    and of their autogroups (with `sched_autogroup_enabled`, CPU is first shared between
    sessions, whatever the threads' niceness)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/autogroup").write_text(str(niceness))


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Live:
    """The live channel as a subscriber sees it."""

    # (arrived, publish -> live, publish -> ingester received it)
    arrivals: list[tuple[float, float, float]] = field(default_factory=list)
    seen: int = 0
    enough: asyncio.Event = field(default_factory=asyncio.Event)
    target: int = 0

    async def listen(self, redis: Redis, channel: str, ready: asyncio.Event) -> None:
        pubsub = redis.pubsub()
        await pubsub.subscribe(channel)
        ready.set()
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            arrived = time.time()
            for reading in orjson.loads(message["data"]):
                sent = datetime.fromisoformat(reading["timestamp"]).timestamp()
                received = datetime.fromisoformat(reading["received_at"]).timestamp()
                self.arrivals.append((arrived, arrived - sent, received - sent))
            self.seen = len(self.arrivals)
            if self.target and self.seen >= self.target:
                self.enough.set()


# -- the run ---------------------------------------------------------------------------------


async def raw_insert_rate(settings: Settings, docs: int) -> float:
    client = mongo_client(settings.mongo)
    name = f"vpp_bench_raw_{int(time.time())}"
    try:
        db = client[name]
        await ensure_telemetry_collection(db, settings.mongo.telemetry_retention_days * 86_400)
        base = datetime.now(UTC) - timedelta(hours=2)
        batch_docs = []
        for i in range(docs):
            reading = orjson.loads(payload(f"node-{i % 2000 + 1:05d}", i, i * 7919))
            reading["timestamp"] = base + timedelta(milliseconds=i)
            reading["received_at"] = reading["timestamp"]
            batch_docs.append(reading)
        coll = db[TELEMETRY]
        started = time.perf_counter()
        for i in range(0, docs, RAW_BATCH):
            await coll.insert_many(batch_docs[i : i + RAW_BATCH], ordered=False)
        return docs / (time.perf_counter() - started)
    finally:
        await client.drop_database(name)
        await client.close()


async def wait_for_line(
    stream: asyncio.StreamReader, needle: str, timeout_s: float, tail: list[str]
) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            line = (await stream.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError("ingester exited:\n" + "".join(tail[-20:]))
            tail.append(line)
            if needle in line:
                return


async def drain(stream: asyncio.StreamReader, tail: list[str]) -> None:
    while line := await stream.readline():
        tail.append(line.decode(errors="replace"))
        del tail[:-200]


async def scrape(port: int) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{label}}}" if label else sample.name] = sample.value
    return values


@dataclass
class Ingester:
    process: asyncio.subprocess.Process
    metrics_port: int
    env: dict[str, str]
    log: list[str] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None


async def start_ingester(args: argparse.Namespace, db_name: str, stamp: str) -> Ingester:
    metrics_port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "VPP_MONGO__DATABASE": db_name,
            "VPP_INGEST__METRICS_PORT": str(metrics_port),
            "VPP_INGEST__SHARE_GROUP": f"bench-{stamp}",
        }
    )
    if args.batch_size:
        env["VPP_INGEST__BATCH_SIZE"] = str(args.batch_size)
    if args.flush_interval:
        env["VPP_INGEST__FLUSH_INTERVAL_S"] = str(args.flush_interval)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vpp.ingest.command",
        "--instance",
        f"bench-{stamp}",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    ingester = Ingester(process, metrics_port, env)
    await wait_for_line(process.stderr, "subscribed", 60, ingester.log)
    ingester.drainer = asyncio.create_task(drain(process.stderr, ingester.log))
    return ingester


async def forget_session(settings: Settings, client_id: str) -> None:
    """Drop the broker's session of the benchmark's ingester (it kept it on exit, as a
    production ingester does): else it would queue a copy of every later message."""
    mqtt = settings.mqtt
    client = MqttClient(client_id, clean_session=True)
    client.set_auth_credentials(mqtt.service_username, mqtt.service_password.get_secret_value())
    await client.connect(mqtt.host, mqtt.port)
    await client.disconnect()


async def start_load(args: argparse.Namespace, start_at: float) -> list[asyncio.subprocess.Process]:
    if args.load_command is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))  # the shared start time
        return [
            await asyncio.create_subprocess_exec(
                *shlex.split(args.load_command),
                stdout=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        ]
    workers = []
    per_proc = args.publishers // args.procs
    for p in range(args.procs):
        first = 1 + p * per_proc
        count = per_proc if p < args.procs - 1 else args.publishers - p * per_proc
        rate = args.rate * count / args.publishers
        spec = f"{first}:{count}:{rate}:{start_at}:{args.duration}"
        workers.append(
            await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--worker", spec, stdout=asyncio.subprocess.PIPE
            )
        )
    return workers


async def stop_load(args: argparse.Namespace, workers: list[asyncio.subprocess.Process]) -> int:
    """Wait for the load to end; the number of messages published (0 if unknown)."""
    if args.load_command is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(workers[0].pid, signal.SIGINT)
        await workers[0].wait()
        return 0
    published = 0
    for worker in workers:
        out, _ = await worker.communicate()
        published += int(orjson.loads(out.decode().strip().splitlines()[-1])["published"])
    return published


@dataclass
class Window:
    """CPU and arrivals over the steady window."""

    watched: dict[str, int]
    start: float = 0.0
    end: float = 0.0
    seen: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0

    async def measure(self, live: Live, until: float) -> None:
        cpu_before = {name: cpu_seconds(pid) for name, pid in self.watched.items()}
        busy_before = machine_busy()
        self.start = time.time()
        seen_before = live.seen
        await asyncio.sleep(max(0.0, until - time.time()))  # the window's length
        self.end = time.time()
        self.seen = live.seen - seen_before
        busy_after = machine_busy()
        length = self.end - self.start
        self.cpu = {
            name: (cpu_seconds(pid) - cpu_before[name]) / length
            for name, pid in self.watched.items()
        }
        share = (busy_after[0] - busy_before[0]) / (busy_after[1] - busy_before[1])
        self.machine = share * (os.cpu_count() or 1)


@dataclass
class Result:
    stamp: str
    raw_rate: float
    window: Window
    live: Live
    published: int
    stored: int
    letters: int
    drain_s: float
    drained: bool
    metrics: dict[str, float]
    ingest_env: dict[str, str]


def slow_seconds(arrivals: list[tuple[float, float, float]], limit: float) -> list[str]:
    """The seconds (from the first arrival) holding a reading slower than `limit`, worst
    first."""
    if not arrivals:
        return []
    first = arrivals[0][0]
    worst: dict[int, float] = {}
    for arrived, latency, _ in arrivals:
        second = int(arrived - first)
        worst[second] = max(worst.get(second, 0.0), latency)
    slow = sorted((v, k) for k, v in worst.items() if v > limit)
    return [f"{k}({v * 1000:.0f} ms)" for v, k in reversed(slow)]


def flush_quantiles(metrics: dict[str, float]) -> str:
    """p50 and p99 of the ingester's batch write time, from its histogram's buckets."""
    prefix = "vpp_ingest_flush_seconds_bucket{le="
    buckets = sorted(
        (float(k[len(prefix) : -1]), v) for k, v in metrics.items() if k.startswith(prefix)
    )
    total = metrics.get("vpp_ingest_flush_seconds_count", 0.0)
    if not buckets or not total:
        return "(no data)"

    def upper(q: float) -> str:
        bound = next((le for le, count in buckets if count >= q * total), float("inf"))
        return f"<= {bound * 1000:.0f} ms" if bound != float("inf") else "> 5 s"

    return f"p50 {upper(0.5)}, p99 {upper(0.99)} (histogram buckets)"


def report(args: argparse.Namespace, settings: Settings, r: Result) -> None:
    length = r.window.end - r.window.start
    in_window = [a for a in r.live.arrivals if r.window.start <= a[0] <= r.window.end]
    steady = [a[1] for a in in_window]
    to_ingest = [a[2] for a in in_window]
    everything = [a[1] for a in r.live.arrivals]
    sustained = r.window.seen / length
    batch_size = r.ingest_env.get("VPP_INGEST__BATCH_SIZE", settings.ingest.batch_size)
    interval = r.ingest_env.get("VPP_INGEST__FLUSH_INTERVAL_S", settings.ingest.flush_interval_s)
    if args.load_command is None:
        load = (
            f"{args.publishers} node connections in {args.procs} processes, offered "
            f"{args.rate:,.0f} msg/s for {args.duration:.0f} s"
        )
    else:
        load = f"{args.load_command} for {args.duration:.0f} s"
    ms = 1000.0
    reasons = {
        k: v for k, v in r.metrics.items() if k.startswith("vpp_ingest_dead_letters_total") and v
    }
    store_errors = sum(
        v for k, v in r.metrics.items() if k.startswith("vpp_ingest_store_errors_total")
    )
    exact = r.published == r.stored == r.live.seen if r.published else None
    print()
    print("=" * 76)
    print(f"ingest benchmark {r.stamp} on {os.cpu_count()} cores")
    print(f"load: {load}")
    print(f"steady window: {length:.0f} s after a {args.warmup:.0f} s warm-up")
    if args.nice:
        print(f"measured processes reniced to {args.nice} (the machine runs other work too)")
    print(f"ingest: batch_size {batch_size}, flush_interval_s {interval}")
    print("-" * 76)
    print(f"sustained stored rate     {sustained:10,.0f} msg/s")
    print(f"raw insert_many rate      {r.raw_rate:10,.0f} docs/s (same layout, alone, before)")
    print(f"ratio                     {sustained / r.raw_rate:10.0%}")
    print(
        f"publish -> live latency   p50 {percentile(steady, 0.5) * ms:6.1f} ms  "
        f"p99 {percentile(steady, 0.99) * ms:6.1f} ms  max {max(steady, default=0) * ms:6.1f} ms"
    )
    print(
        f"  of which to ingest      p50 {percentile(to_ingest, 0.5) * ms:6.1f} ms  "
        f"p99 {percentile(to_ingest, 0.99) * ms:6.1f} ms (publisher -> broker -> ingester)"
    )
    print(f"  whole run               p99 {percentile(everything, 0.99) * ms:6.1f} ms")
    slow = slow_seconds(in_window, 0.25)
    print(
        f"  seconds of the window with a reading slower than 250 ms: {len(slow)} of "
        f"{int(length)}" + (f", worst at +{', +'.join(slow[:8])} s" if slow else "")
    )
    print(f"  batch write (MongoDB insert) {flush_quantiles(r.metrics)}")
    print(
        f"published {r.published:,}, arrived live {r.live.seen:,}, stored {r.stored:,}, "
        f"dead letters {r.letters:,}; drained {r.drain_s:.1f} s after the load"
        + ("" if r.drained else " (NOT DRAINED)")
    )
    print(f"every reading stored exactly once: {exact}")
    print(f"dead letters by reason: {reasons or 'none'}")
    print(
        f"store errors {store_errors:.0f}, redis errors "
        f"{r.metrics.get('vpp_ingest_redis_errors_total', 0):.0f}, batches "
        f"{r.metrics.get('vpp_ingest_batches_total', 0):,.0f}"
    )
    print("-" * 76)
    print("CPU over the steady window (100 % = one core):")
    for name, share in r.window.cpu.items():
        print(f"  {name:<36} {share:7.0%}")
    ours = sum(r.window.cpu.values())
    print(f"  {'all of the above':<36} {ours:7.0%}")
    print(f"  {'whole machine':<36} {r.window.machine:7.0%}")
    print(f"  {'other processes on the machine':<36} {max(0.0, r.window.machine - ours):7.0%}")
    print("=" * 76)


async def prepare_store(args: argparse.Namespace, settings: Settings, db: Database) -> float:
    """Register the nodes; the raw insert rate."""
    await init_store(db, settings.mongo)
    count = args.publishers if args.load_command is None else args.nodes
    registered = await register_nodes(db, seed_node_specs(settings.mqtt, count))
    print(f"database {db.name}: {registered.created} nodes registered")
    print(f"raw insert_many of {args.raw_docs:,} docs in batches of {RAW_BATCH} ...", flush=True)
    raw_rate = await raw_insert_rate(settings, args.raw_docs)
    print(f"raw insert rate: {raw_rate:,.0f} docs/s", flush=True)
    return raw_rate


def watch_list(
    servers: dict[str, int | None], ingester: Ingester, workers: list[asyncio.subprocess.Process]
) -> dict[str, int]:
    """The processes whose CPU the report shows, by a readable name."""
    watched = {f"{name} ({pid})": pid for name, pid in servers.items() if pid}
    watched[f"ingester ({ingester.process.pid})"] = ingester.process.pid
    for i, worker in enumerate(workers, start=1):
        watched[f"load {i} ({worker.pid})"] = worker.pid
    watched[f"bench live subscriber ({os.getpid()})"] = os.getpid()
    return watched


async def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    db_name = args.db or f"vpp_bench_{stamp}"
    stack = Stack(settings, only=["mongo", "redis", "mqtt"])
    servers = {s.name: stack.record(s).pid() for s in stack.servers}
    if any(pid is None for pid in servers.values()):
        print(f"the stack is not up ({servers}); run `vpp stack up mongo redis mqtt` first")
        return 2

    client = mongo_client(settings.mongo)
    db = client[db_name]
    raw_rate = await prepare_store(args, settings, db)

    ingester = await start_ingester(args, db_name, stamp)
    redis = Redis.from_url(settings.redis.url)
    live = Live()
    ready = asyncio.Event()
    listener = asyncio.create_task(live.listen(redis, RedisNames().telemetry_live, ready))
    await ready.wait()

    start_at = time.time() + args.connect_time
    workers = await start_load(args, start_at)
    print(f"load starts in {max(0.0, start_at - time.time()):.0f} s ...", flush=True)
    watched = watch_list(servers, ingester, workers)
    if args.nice:
        renice(list(watched.values()), args.nice)
    await asyncio.sleep(max(0.0, start_at + args.warmup - time.time()))  # the warm-up
    window = Window(watched)
    await window.measure(live, start_at + args.duration)
    published = await stop_load(args, workers)

    load_end = time.time()
    live.target = published
    drained = True
    if published and live.seen < published:
        try:
            await asyncio.wait_for(live.enough.wait(), args.drain_timeout)
        except TimeoutError:
            drained = False
    drain_s = time.time() - load_end
    metrics = await scrape(ingester.metrics_port)
    ingester.process.send_signal(signal.SIGTERM)
    await ingester.process.wait()
    await forget_session(settings, f"vpp-ingest-bench-{stamp}")
    for task in (ingester.drainer, listener):
        if task is not None:
            task.cancel()
    result = Result(
        stamp=stamp,
        raw_rate=raw_rate,
        window=window,
        live=live,
        published=published,
        stored=await db[TELEMETRY].count_documents({}),
        letters=await db[DEAD_LETTERS].count_documents({}),
        drain_s=drain_s,
        drained=drained,
        metrics=metrics,
        ingest_env=ingester.env,
    )
    report(args, settings, result)
    if args.nice:
        renice([pid for pid in servers.values() if pid], 0)  # the stack's servers stay up
    if not args.keep:
        await client.drop_database(db_name)
    await client.close()
    await redis.aclose()
    exact = published == result.stored == live.seen
    return 0 if exact or not published else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--publishers", type=int, default=2000, help="node connections (default 2000)"
    )
    parser.add_argument(
        "--rate", type=float, default=4000.0, help="total msg/s offered (default 4000)"
    )
    parser.add_argument(
        "--duration", type=float, default=120.0, help="seconds of load (default 120)"
    )
    parser.add_argument(
        "--warmup", type=float, default=15.0, help="seconds before the steady window"
    )
    parser.add_argument("--procs", type=int, default=2, help="publisher processes (default 2)")
    parser.add_argument("--connect-time", type=float, default=10.0, help="seconds to connect first")
    parser.add_argument("--raw-docs", type=int, default=50_000, help="docs of the raw insert test")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--batch-size", type=int, help="VPP_INGEST__BATCH_SIZE for the ingester")
    parser.add_argument("--flush-interval", type=float, help="VPP_INGEST__FLUSH_INTERVAL_S")
    parser.add_argument(
        "--load-command",
        help="run this load generator instead of the built-in publishers, e.g. "
        "'vpp edge-sim --nodes 20000' (its nodes must be registered: see --nodes)",
    )
    parser.add_argument(
        "--nodes", type=int, default=20_000, help="nodes to register with --load-command"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the measured processes at this niceness (e.g. -10 on a machine shared "
        "with other work, to approach having the cores to themselves; needs root)",
    )
    parser.add_argument("--db", help="database name (default vpp_bench_<time>)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        first, count, rate, start_at, duration = args.worker.split(":")
        asyncio.run(
            publisher_worker(int(first), int(count), float(rate), float(start_at), float(duration))
        )
        return
    # This process is the live subscriber that timestamps arrivals: no collector pauses
    # in the measurement (it allocates no cycles worth collecting).
    gc.freeze()
    gc.disable()
    raise SystemExit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
