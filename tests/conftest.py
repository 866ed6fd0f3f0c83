"""Test settings: a stack of its own (ports and data dir) beside any developer stack."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vpp.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]

# Every port shifted so the suite never touches a developer's running stack;
# VPP_TEST_PORT_OFFSET shifts it again so two suites can run side by side.
PORT_OFFSET = int(os.environ.get("VPP_TEST_PORT_OFFSET", "0"))


def shifted_port(base: int) -> str:
    return str(base + PORT_OFFSET)


TEST_ENV = {
    "VPP_STACK__DATA_DIR": str(ROOT / (f".vpp-test-{PORT_OFFSET}" if PORT_OFFSET else ".vpp-test")),
    "VPP_TEMPORAL__PORT": shifted_port(17233),
    "VPP_TEMPORAL__UI_PORT": shifted_port(18233),
    "VPP_TEMPORAL__HTTP_PORT": shifted_port(17243),
    "VPP_TEMPORAL__METRICS_PORT": shifted_port(17244),
    "VPP_MONGO__PORT": shifted_port(27117),
    "VPP_MONGO__DATABASE": "vpp_test",
    "VPP_REDIS__PORT": shifted_port(16379),
    "VPP_MQTT__PORT": shifted_port(11883),
    "VPP_MQTT__NODE_ACCOUNTS": "2000",
    "VPP_KEYCLOAK__PORT": shifted_port(18080),
    "VPP_KEYCLOAK__MANAGEMENT_PORT": shifted_port(19000),
    "VPP_API__PORT": shifted_port(18000),
    "VPP_INGEST__METRICS_PORT": shifted_port(19101),
    "VPP_EDGE_SIM__STATUS_PORT": shifted_port(18101),
    "VPP_METRICS__IO_WORKER_PORT": shifted_port(19102),
    "VPP_METRICS__ML_WORKER_PORT": shifted_port(19103),
    "VPP_METRICS__IO_WORKER_SDK_PORT": shifted_port(19104),
    "VPP_METRICS__ML_WORKER_SDK_PORT": shifted_port(19105),
    "VPP_METRICS__ACK_RELAY_PORT": shifted_port(19106),
    "VPP_METRICS__PROMETHEUS_PORT": shifted_port(19090),
}
os.environ.update(TEST_ENV)
# The suite runs its own SecantusDB unless VPP_TEST_MONGO_URI names a real mongod.
_external_mongo = os.environ.get("VPP_TEST_MONGO_URI")
if _external_mongo:
    os.environ["VPP_MONGO__URI"] = _external_mongo
else:
    os.environ.pop("VPP_MONGO__URI", None)


def pytest_configure(config: pytest.Config) -> None:
    """Fail once, clearly, when the CityLearn data is not where the settings look for it,
    rather than in a hundred tests that need it."""
    found = Settings(_env_file=None)
    places = {
        "VPP_EDGE_SIM__DATA_DIR": found.edge_sim.data_dir,
        "VPP_FORECAST__DATA_DIR": found.forecast.data_dir,
        "VPP_RL__DATA_DIR": found.rl.data_dir,
    }
    missing = {k: v for k, v in places.items() if not (v / "schema.json").is_file()}
    if missing:
        where = ", ".join(f"{k}={v}" for k, v in missing.items())
        raise pytest.UsageError(
            f"CityLearn 2022 data not found ({where}): the tests read shared/data/ beside "
            "the checkout (the workspace's ../shared), or beside the local checkout it was "
            "cloned from; clone the repository there or set those variables"
        )


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return Settings(_env_file=None)


# How long the tasks a run leaves behind get to end once cancelled.
_LEFTOVER_GRACE_S = 30.0


@pytest.fixture(scope="session", autouse=True)
async def _no_task_outlives_the_run(pytestconfig: pytest.Config) -> AsyncIterator[None]:
    """Ends what the run left on its event loop, or names what will not end.

    The loop's runner cancels every task left at the end and waits for each, with no time
    limit: one task that will not end (a cancel swallowed, a cleanup awaiting a server
    already stopped) kept a full run hanging after its last test had passed. Session
    fixtures end before this one (autouse: set up first), so what is left here is leaked.
    """
    yield
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    for task in left:
        task.cancel()
    if not left:
        return
    _, stuck = await asyncio.wait(left, timeout=_LEFTOVER_GRACE_S)
    if not stuck:
        return
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{len(stuck)} task(s) still running {_LEFTOVER_GRACE_S:.0f} s after a cancel:")
        for task in stuck:
            print(f"--- {task.get_name()}: {task.get_coro()!r}")
            task.print_stack(file=sys.stdout)
        sys.stdout.flush()
    # The runner would now wait for them forever; end the run as failed, with their names.
    os._exit(3)
