"""A worker killed mid-dispatch (SIGKILL, a real process) and replaced: the dispatch
finishes, no node applies its command twice, and the log holds one entry per node."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from temporalio.client import Client

from tests.conftest import ROOT
from tests.integration.dispatch.conftest import finished, node_id
from vpp.config import Settings
from vpp.dispatch.documents import DISPATCH_LOG
from vpp.dispatch.ids import new_dispatch_id
from vpp.dispatch.models import DispatchRequest, DispatchStatus, NodeStatus
from vpp.dispatch.progress import progress_subscription
from vpp.dispatch.relay import AckRelay
from vpp.dispatch.service import DispatchService
from vpp.dispatch.settings import DispatchSettings
from vpp.edge_sim.fleet import Fleet
from vpp.models import Action, CommandParams
from vpp.store.database import Database
from vpp.workers.io import READY_LINE

WORKER_START_TIMEOUT_S = 60


class WorkerProcess:
    """`python -m vpp.workers.io` as a child process, its log read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if READY_LINE in line:
                self.ready.set()

    async def stop(self, sig: int) -> int:
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await self.process.wait()
        await self._reader
        return code


@asynccontextmanager
async def worker_process(task_queue: str) -> AsyncIterator[WorkerProcess]:
    env = {**os.environ, "VPP_TEMPORAL__IO_TASK_QUEUE": task_queue}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vpp.workers.io",
        "--instance",
        "kill-test",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    worker = WorkerProcess(process)
    try:
        async with asyncio.timeout(WORKER_START_TIMEOUT_S):
            await worker.ready.wait()
        yield worker
    finally:
        await worker.stop(signal.SIGTERM)


async def test_a_worker_killed_mid_dispatch_finishes_it_with_nothing_applied_twice(
    *,
    settings: Settings,
    temporal: Client,
    db: Database,
    redis: Redis,
    fleet: Fleet,
    relay: AckRelay,
    options: DispatchSettings,
) -> None:
    queue = f"test-kill-{uuid.uuid4().hex[:8]}"
    service = DispatchService(temporal, db, settings, task_queue=queue, options=options)
    nodes = [node_id(n) for n in range(1561, 1581)]
    request = DispatchRequest(
        targets=nodes,
        action=Action.CHARGE,
        params=CommandParams(kw=1.0, duration_s=3),
        request_id=f"kill-{uuid.uuid4().hex[:8]}",
    )
    dispatch_id = new_dispatch_id("test-operator", request.request_id)
    async with worker_process(queue) as first:
        async with progress_subscription(redis, dispatch_id) as progress:
            started = await service.start_dispatch(request, issuer="test-operator")
            # Mid-dispatch: the first answers are in, being written to the log.
            async with asyncio.timeout(30):
                async for message in progress:
                    if any(n.status is NodeStatus.ACCEPTED for n in message.nodes):
                        break
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    async with worker_process(queue):
        result = await finished(temporal, started)

    assert (result.status, result.counts.completed) == (DispatchStatus.COMPLETED, len(nodes))
    assert {n: fleet.node(n).applied_commands for n in nodes} == dict.fromkeys(nodes, 1)
    log = db[DISPATCH_LOG]
    assert await log.count_documents({"dispatch_id": dispatch_id}) == len(nodes)
    assert sorted(await log.distinct("dc_id", {"dispatch_id": dispatch_id})) == nodes
    detail = await service.get_dispatch(dispatch_id)
    assert detail is not None
    assert {e.status for e in detail.nodes} == {NodeStatus.COMPLETED}
