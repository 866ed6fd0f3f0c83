"""The fleet without a broker: nodes sampled onto in-memory links, commands routed to
nodes and completed on time, faults and the status API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from vpp.config import Settings
from vpp.edge_sim.buffer import Reading, TelemetryBuffer
from vpp.edge_sim.clock import ScaledClock
from vpp.edge_sim.fleet import Fault, FaultKind, Fleet
from vpp.edge_sim.link import CommandHandler, LinkStats, NodeLink
from vpp.edge_sim.status_api import create_app
from vpp.models import Ack, AckStatus, NodeKind, Telemetry


class MemoryLink:
    """A link that delivers at once into lists."""

    def __init__(self, node_id: str, on_command: CommandHandler) -> None:
        self.node_id = node_id
        self.on_command = on_command
        self.buffer = TelemetryBuffer(100)
        self.stats = LinkStats()
        self.readings: list[Reading] = []
        self.submitted = asyncio.Event()
        self.acks: asyncio.Queue[Ack] = asyncio.Queue()
        self.acks_to_drop = 0
        self.online_wanted = True
        self.started = False

    @property
    def connected(self) -> bool:
        return self.started and self.online_wanted

    @property
    def pending(self) -> int:
        return 0

    def submit(self, reading: Reading) -> None:
        self.readings.append(reading)
        self.stats.sent += 1
        self.submitted.set()

    def send_ack(self, ack: Ack) -> None:
        if self.acks_to_drop:
            self.acks_to_drop -= 1
            self.stats.acks_dropped += 1
            return
        self.acks.put_nowait(ack)

    def drop_next_acks(self, count: int) -> None:
        self.acks_to_drop += count

    def start(self) -> None:
        self.started = True

    def set_online(self, online: bool) -> None:
        self.online_wanted = online

    async def drain(self, timeout_s: float) -> bool:
        return True

    async def stop(self) -> None:
        self.started = False


def fleet_settings(settings: Settings, data_dir: Path, **edge_sim: object) -> Settings:
    sim = settings.edge_sim.model_copy(update={"data_dir": data_dir, **edge_sim})
    return settings.model_copy(update={"edge_sim": sim})


@pytest.fixture
async def fleet(settings: Settings, data_dir: Path) -> AsyncIterator[Fleet]:
    # 3600x: a 60 s command lasts 17 ms of wall time.
    fleet = Fleet(
        fleet_settings(settings, data_dir, nodes=6, interval_s=0.02, speed=3600.0),
        link_factory=MemoryLink,
    )
    yield fleet
    await fleet.stop()


def links(fleet: Fleet) -> dict[str, MemoryLink]:
    return {node_id: fleet.link(node_id) for node_id in fleet.node_ids}  # type: ignore[misc]


def cmd(command_id: str, action: str = "charge", kw: float = 1.0, duration_s: int = 60) -> bytes:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    return orjson.dumps(
        {
            "command_id": command_id,
            "dispatch_id": "d",
            "action": action,
            "params": {"kw": kw, "duration_s": duration_s},
            "expires_at": expires.isoformat(),
        }
    )


def test_nodes_are_numbered_and_mixed_by_the_settings(settings: Settings, data_dir: Path) -> None:
    fleet = Fleet(
        fleet_settings(settings, data_dir, nodes=4, first_node=17, home_share=0.5),
        link_factory=MemoryLink,
    )
    assert fleet.node_ids == ["node-00017", "node-00018", "node-00019", "node-00020"]
    kinds = [fleet.node(i).kind for i in fleet.node_ids]
    assert sorted(kinds) == [NodeKind.EDGE_DC] * 2 + [NodeKind.HOME_DER] * 2
    homes = [fleet.state(i) for i in fleet.node_ids if fleet.node(i).kind is NodeKind.HOME_DER]
    assert {(s.n, s.building) for s in homes} == {(18, 1), (20, 3)}


async def test_every_node_publishes_consecutive_valid_readings(fleet: Fleet) -> None:
    fleet.start()
    by_node = links(fleet)

    last = by_node[fleet.node_ids[-1]]
    async with asyncio.timeout(5):
        while len(last.readings) < 5:  # the last node in each round is sampled last
            last.submitted.clear()
            await last.submitted.wait()
    for node_id, link in by_node.items():
        readings = [Telemetry.model_validate_json(r.payload) for r in link.readings]
        assert [r.seq for r in readings] == list(range(len(readings)))
        assert {r.dc_id for r in readings} == {node_id}
        stamps = [r.timestamp for r in readings]
        assert stamps == sorted(stamps)
        assert all(49.5 < r.freq < 50.5 for r in readings)


async def test_a_command_is_acked_accepted_then_completed_on_time(fleet: Fleet) -> None:
    fleet.start(sampling=False)
    node_id = fleet.node_ids[1]
    link = links(fleet)[node_id]
    soc_before = fleet.node(node_id).battery.soc
    fleet.handle_command(node_id, cmd("c-1", "charge", kw=2.0, duration_s=60))
    accepted = await asyncio.wait_for(link.acks.get(), timeout=2)
    completed = await asyncio.wait_for(link.acks.get(), timeout=2)
    assert (accepted.status, completed.status) == (AckStatus.ACCEPTED, AckStatus.COMPLETED)
    assert completed.applied_kw == pytest.approx(2.0, rel=0.01)
    assert fleet.node(node_id).battery.soc > soc_before
    assert fleet.state(node_id).active_command is None


async def test_lost_acks_come_again_when_the_command_is_resent(fleet: Fleet) -> None:
    fleet.start(sampling=False)
    node_id = fleet.node_ids[0]
    link = links(fleet)[node_id]
    state = fleet.inject(Fault(node_id=node_id, kind=FaultKind.DROP_ACKS, count=1))
    assert state.drop_acks_next == 1
    fleet.handle_command(node_id, cmd("c-2", "hold", duration_s=3600))
    assert link.acks.empty()
    fleet.handle_command(node_id, cmd("c-2", "hold", duration_s=3600))
    again = await asyncio.wait_for(link.acks.get(), timeout=1)
    assert (again.command_id, again.status) == ("c-2", AckStatus.ACCEPTED)
    assert fleet.node(node_id).applied_commands == 1


async def test_offline_and_online_faults_reach_the_link(fleet: Fleet) -> None:
    node_id = fleet.node_ids[2]
    assert not fleet.inject(Fault(node_id=node_id, kind=FaultKind.OFFLINE)).online_wanted
    assert fleet.inject(Fault(node_id=node_id, kind=FaultKind.ONLINE)).online_wanted


async def test_a_silent_node_stays_connected_and_reports_nothing_until_back(fleet: Fleet) -> None:
    fleet.start()
    silent, other = fleet.node_ids[3], fleet.node_ids[4]
    by_node = links(fleet)
    state = fleet.inject(Fault(node_id=silent, kind=FaultKind.SILENT))
    assert (state.reporting, state.online_wanted, state.connected) == (False, True, True)
    taken, others, then = len(by_node[silent].readings), len(by_node[other].readings), state.time
    await asyncio.sleep(0.2)  # ten rounds of the sampler
    assert len(by_node[silent].readings) == taken
    assert len(by_node[other].readings) > others
    assert fleet.state(silent).time > then  # its clock goes on, for its commands
    assert fleet.inject(Fault(node_id=silent, kind=FaultKind.ONLINE)).reporting
    async with asyncio.timeout(2):
        while len(by_node[silent].readings) == taken:  # noqa: ASYNC110 - a list, polled
            await asyncio.sleep(0.01)


async def test_the_status_api_lists_nodes_and_injects_faults(fleet: Fleet) -> None:
    fleet.start(sampling=False)
    fleet.sample(fleet.node_ids[0])
    transport = httpx.ASGITransport(app=create_app(fleet))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        nodes = (await client.get("/nodes")).json()
        assert [n["node_id"] for n in nodes] == fleet.node_ids
        one = (await client.get("/nodes/node-00001")).json()
        assert one["kind"] == "edge_dc"
        assert one["next_seq"] == 1
        assert 5.0 <= one["soc"] <= 95.0
        assert (await client.get("/nodes/node-99999")).status_code == 404
        answer = await client.post(
            "/faults", json={"node_id": "node-00002", "kind": "drop_acks", "count": 3}
        )
        assert answer.status_code == 200
        assert answer.json()["drop_acks_next"] == 3
        answer = await client.post("/faults", json={"node_id": "node-00002", "kind": "offline"})
        assert answer.json()["online_wanted"] is False
        assert (
            await client.post("/faults", json={"node_id": "node-00002", "kind": "explode"})
        ).status_code == 422
        assert (
            await client.post("/faults", json={"node_id": "node-99999", "kind": "offline"})
        ).status_code == 404
        health = (await client.get("/health")).json()
        assert health["nodes"] == 6


def test_memory_link_is_a_node_link() -> None:
    link: NodeLink = MemoryLink("node-00001", lambda payload: None)
    assert link.node_id == "node-00001"


def test_the_scaled_clock_runs_at_its_speed() -> None:
    clock = ScaledClock(speed=60.0)
    assert clock.real_seconds(60.0) == 1.0
    assert abs((clock.sim_now() - clock.start).total_seconds()) < 1.0
