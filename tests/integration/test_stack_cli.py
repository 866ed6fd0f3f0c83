"""`vpp stack` as a person runs it: a subprocess, on ports and a data dir of its own."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_ENV, shifted_port
from vpp.stack.process import port_in_use

# Fast servers only; Keycloak's reuse is covered against the session stack below.
SERVERS = ["temporal", "mongo", "redis", "mqtt"]
# The side stack's ports, each shifted like the test stack's.
SIDE_PORTS = {
    "VPP_TEMPORAL__PORT": 27333,
    "VPP_TEMPORAL__UI_PORT": 28333,
    "VPP_TEMPORAL__HTTP_PORT": 27343,
    "VPP_TEMPORAL__METRICS_PORT": 27344,
    "VPP_MONGO__PORT": 27217,
    "VPP_REDIS__PORT": 26379,
    "VPP_MQTT__PORT": 21883,
}


def _vpp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _processes_using(data_dir: Path) -> list[int]:
    """Processes of the side stack: by data dir, or by port for redis (it retitles itself)."""
    marks = (str(data_dir), f"127.0.0.1:{shifted_port(26379)}")
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if any(mark in cmdline for mark in marks):
            pids.append(int(proc.name))
    return pids


@pytest.fixture
def side_dir() -> Iterator[Path]:
    # Under the checkout, not pytest's private tmp: the broker runs as user mosquitto
    # and must be able to enter its folder.
    path = ROOT / ".vpp-test" / f"side-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def side_stack_env(side_dir: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.update({name: shifted_port(port) for name, port in SIDE_PORTS.items()})
    env.update({"VPP_STACK__DATA_DIR": str(side_dir), "VPP_MQTT__NODE_ACCOUNTS": "10"})
    yield env
    _vpp(env, "stack", "down", *SERVERS)


def test_up_twice_leaves_one_set_and_down_leaves_none(
    side_stack_env: dict[str, str], side_dir: Path
) -> None:
    data_dir = side_dir
    first = _vpp(side_stack_env, "stack", "up", *SERVERS)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" started ") == len(SERVERS)
    pids = sorted(_processes_using(data_dir))
    assert len(pids) == len(SERVERS)

    second = _vpp(side_stack_env, "stack", "up", *SERVERS)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count(" reused ") == len(SERVERS)
    assert sorted(_processes_using(data_dir)) == pids

    status = _vpp(side_stack_env, "stack", "status", *SERVERS)
    assert status.returncode == 0
    assert status.stdout.count(" running ") == len(SERVERS)

    down = _vpp(side_stack_env, "stack", "down", *SERVERS)
    assert down.returncode == 0, down.stderr
    assert _processes_using(data_dir) == []
    for port in SIDE_PORTS.values():
        assert not port_in_use("127.0.0.1", int(shifted_port(port)))
    stopped = _vpp(side_stack_env, "stack", "status", *SERVERS)
    assert stopped.returncode == 1
    assert stopped.stdout.count(" not running ") == len(SERVERS)


def test_port_already_taken_gives_one_clear_line(side_stack_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", int(shifted_port(26379))))
        squatter.listen()
        result = _vpp(side_stack_env, "stack", "up", "redis")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"redis: port 127.0.0.1:{shifted_port(26379)} is already in use" in lines[0]
    assert "VPP_REDIS__PORT" in lines[0]


def test_unknown_server_name_is_refused(side_stack_env: dict[str, str]) -> None:
    result = _vpp(side_stack_env, "stack", "up", "postgres")
    assert result.returncode == 1
    assert "unknown server(s) postgres" in result.stderr


def test_up_on_the_running_session_stack_reuses_all_five() -> None:
    env = dict(os.environ)
    env.update(TEST_ENV)
    result = _vpp(env, "stack", "up")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(" reused ") == 5
    assert " started " not in result.stdout
