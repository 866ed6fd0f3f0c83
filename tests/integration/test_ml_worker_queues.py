"""`vpp worker --queue ml|ml-cycles|ml-train` as real processes against the test stack:
each polls the ML task queues its value names and no other, so a deployment can keep the
daily training out of the replicas that run the 15-minute cycles."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from tests.conftest import ROOT
from vpp.config import Settings
from vpp.temporal_client import connect
from vpp.workers.ml import READY_LINE

START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def temporal(settings: Settings) -> Client:
    return await connect(settings.temporal)


@asynccontextmanager
async def ml_worker(queue: str, cycles: str, training: str) -> AsyncIterator[list[str]]:
    """`vpp worker --queue <queue>` on the queues `cycles` and `training`, until SIGTERM;
    yields its log lines as they come, once it says it polls."""
    env = {
        **os.environ,
        "VPP_TEMPORAL__ML_TASK_QUEUE": cycles,
        "VPP_TEMPORAL__ML_TRAIN_TASK_QUEUE": training,
        # Ports of its own: another ML worker of the suite may hold the settings' ones.
        "VPP_METRICS__ML_WORKER_PORT": str(free_port()),
        "VPP_METRICS__ML_WORKER_SDK_PORT": str(free_port()),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vpp",
        "worker",
        "--queue",
        queue,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    ready = asyncio.Event()

    async def read() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            lines.append(raw.decode(errors="replace").rstrip())
            if READY_LINE in lines[-1]:
                ready.set()

    reader = asyncio.create_task(read())
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            await asyncio.wait(
                [asyncio.create_task(ready.wait()), reader], return_when=asyncio.FIRST_COMPLETED
            )
        assert ready.is_set(), "\n".join(lines[-30:])
        yield lines
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await process.wait()
        await reader
    assert code == 0, "\n".join(lines[-30:])


async def polled(client: Client, queue: str) -> bool:
    """Whether some worker polls `queue` for workflow tasks now (Temporal's own view)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return bool(response.pollers)


async def eventually_polled(client: Client, queue: str) -> bool:
    """Pollers show up a moment after the worker starts: wait a few seconds for one."""
    for _ in range(50):
        if await polled(client, queue):
            return True
        await asyncio.sleep(0.2)
    return False


@pytest.mark.parametrize(
    ("queue", "polls_cycles", "polls_training"),
    [("ml", True, True), ("ml-cycles", True, False), ("ml-train", False, True)],
)
async def test_each_ml_worker_polls_the_queues_its_value_names(
    temporal: Client, queue: str, polls_cycles: bool, polls_training: bool
) -> None:
    run = uuid.uuid4().hex[:8]
    cycles, training = f"test-ml-{run}", f"test-ml-train-{run}"
    async with ml_worker(queue, cycles, training) as lines:
        ready = next(line for line in lines if READY_LINE in line)
        assert (cycles in ready, training in ready) == (polls_cycles, polls_training)
        if polls_cycles:
            assert await eventually_polled(temporal, cycles)
        if polls_training:
            assert await eventually_polled(temporal, training)
        # The queue it leaves alone: by now its own queue has shown its poller, and a
        # poller of the other would have shown as soon.
        for leaves, name in ((not polls_cycles, cycles), (not polls_training, training)):
            if leaves:
                assert not await polled(temporal, name)


def test_an_unknown_queue_gets_the_choices_and_exit_2() -> None:
    from typer.testing import CliRunner

    from vpp.cli import app

    result = CliRunner().invoke(app, ["worker", "--queue", "ml-everything"])
    assert result.exit_code == 2
    assert "unknown queue 'ml-everything'; choose io, ml, ml-cycles, ml-train" in result.output
