"""A node's answers to commands: applied within its limits, acked, never applied twice."""

from __future__ import annotations

import logging
from datetime import timedelta

import orjson
import pytest

from vpp.edge_sim.clock import ManualClock
from vpp.edge_sim.commands import AckMemory, Reason
from vpp.edge_sim.node import EdgeDcNode, HomeNode, node_rng
from vpp.edge_sim.profiles import Building
from vpp.models import Ack, AckStatus


@pytest.fixture
def home(clock: ManualClock, building_1: Building) -> HomeNode:
    return HomeNode("node-00002", 2, clock, node_rng(7, 2), building=building_1, offset_h=0.0)


@pytest.fixture
def dc(clock: ManualClock) -> EdgeDcNode:
    return EdgeDcNode("node-00001", 1, clock, node_rng(7, 1))


def command(
    clock: ManualClock,
    action: str,
    *,
    kw: float = 2.0,
    duration_s: int = 900,
    command_id: str = "c-1",
    expires_in_s: float = 600.0,
) -> bytes:
    return orjson.dumps(
        {
            "command_id": command_id,
            "dispatch_id": "d-1",
            "action": action,
            "params": {"kw": kw, "duration_s": duration_s},
            "expires_at": (clock.wall_now() + timedelta(seconds=expires_in_s)).isoformat(),
        }
    )


def only(acks: list[Ack]) -> Ack:
    assert len(acks) == 1, acks
    return acks[0]


def run_for(
    node: HomeNode | EdgeDcNode, clock: ManualClock, seconds: float, step: float = 30.0
) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        node.advance()


def test_charge_is_accepted_applied_and_completed(home: HomeNode, clock: ManualClock) -> None:
    start_kwh = home.battery.energy_kwh
    accepted = only(home.receive(command(clock, "charge", kw=2.0, duration_s=900)))
    assert (accepted.status, accepted.applied_kw) == (AckStatus.ACCEPTED, 2.0)
    run_for(home, clock, 600)
    assert home.battery_kw == pytest.approx(2.0)
    assert home.take_completions() == []
    run_for(home, clock, 600)
    completed = only(home.take_completions())
    assert completed.status is AckStatus.COMPLETED
    assert completed.applied_kw == pytest.approx(2.0)
    assert completed.reason is None
    # Exactly 900 s at 2 kW went in, less the charging loss; afterwards self-consumption.
    charged = home.battery.energy_kwh - start_kwh
    assert charged >= 2.0 * 0.25 * 0.9 - 1e-9
    assert home.active is None


def test_a_command_id_seen_before_is_acked_again_but_applied_once(
    home: HomeNode, clock: ManualClock
) -> None:
    payload = command(clock, "discharge", kw=1.0, duration_s=300)
    first = only(home.receive(payload))
    again = only(home.receive(payload))
    assert first.status is again.status is AckStatus.ACCEPTED
    assert home.applied_commands == 1
    run_for(home, clock, 330)
    completed = only(home.take_completions())
    late = only(home.receive(payload))
    assert late.status is AckStatus.COMPLETED
    assert late.applied_kw == completed.applied_kw
    assert home.applied_commands == 1
    assert home.active is None


@pytest.mark.parametrize(
    "case",
    [
        ("charge", 6.0, 0.5, Reason.KW_OVER_CAPACITY),
        ("discharge", 5.5, 0.5, Reason.KW_OVER_CAPACITY),
        ("discharge", 1.0, 0.05, Reason.SOC_TOO_LOW),
        ("charge", 1.0, 0.95, Reason.SOC_TOO_HIGH),
        ("defer_load", 1.0, 0.5, Reason.UNSUPPORTED),
    ],
)
def test_a_home_rejects_what_it_cannot_do(
    home: HomeNode, clock: ManualClock, case: tuple[str, float, float, Reason]
) -> None:
    action, kw, soc, expected = case
    home.battery.energy_kwh = soc * home.battery.capacity_kwh
    before = home.battery.energy_kwh
    ack = only(home.receive(command(clock, action, kw=kw)))
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is not None
    assert ack.reason.startswith(f"{expected.value}:")
    assert home.active is None
    assert home.applied_commands == 0
    assert home.battery.energy_kwh == before
    # The same id again gets the same rejection.
    assert only(home.receive(command(clock, action, kw=kw))).reason == ack.reason


def test_an_expired_command_is_rejected(home: HomeNode, clock: ManualClock) -> None:
    ack = only(home.receive(command(clock, "charge", expires_in_s=-1.0)))
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is not None
    assert ack.reason.startswith("expired:")


def test_an_invalid_command_with_a_readable_id_is_rejected(
    home: HomeNode, clock: ManualClock
) -> None:
    payload = orjson.dumps({"command_id": "bad-1", "action": "explode", "params": {"kw": -3}})
    ack = only(home.receive(payload))
    assert (ack.command_id, ack.status) == ("bad-1", AckStatus.REJECTED)
    assert ack.reason is not None
    assert ack.reason.startswith("invalid:")
    assert "action" in ack.reason


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1,2]", b'{"action":"charge"}', b'{"command_id":""}']
)
def test_a_command_without_a_readable_id_is_logged_and_dropped(
    home: HomeNode, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="vpp.edge_sim.node"):
        assert home.receive(payload) == []
    assert "without a readable id" in caplog.text


def test_a_discharge_that_empties_the_battery_completes_limited(
    home: HomeNode, clock: ManualClock
) -> None:
    home.battery.energy_kwh = 0.10 * home.battery.capacity_kwh  # 0.32 kWh above the minimum
    only(home.receive(command(clock, "discharge", kw=5.0, duration_s=3600)))
    run_for(home, clock, 3600, step=60.0)
    completed = only(home.take_completions())
    assert completed.status is AckStatus.COMPLETED
    assert completed.reason is not None
    assert completed.reason.startswith("limited")
    # 0.32 kWh stored gives 0.288 kWh at the terminals over the hour.
    assert completed.applied_kw == pytest.approx(0.32 * 0.9, abs=0.01)
    assert home.battery.soc == pytest.approx(0.05)


def test_hold_keeps_the_battery_still(home: HomeNode, clock: ManualClock) -> None:
    before = home.battery.energy_kwh
    only(home.receive(command(clock, "hold", kw=0.0, duration_s=600)))
    run_for(home, clock, 540)
    assert home.battery.energy_kwh == before
    assert home.power_kw == pytest.approx(home.load_kw - home.pv_kw)


def test_a_new_command_supersedes_the_running_one(home: HomeNode, clock: ManualClock) -> None:
    only(home.receive(command(clock, "charge", kw=2.0, duration_s=3600, command_id="a")))
    run_for(home, clock, 900)
    acks = home.receive(command(clock, "hold", duration_s=60, command_id="b"))
    assert [(a.command_id, a.status) for a in acks] == [
        ("a", AckStatus.COMPLETED),
        ("b", AckStatus.ACCEPTED),
    ]
    assert acks[0].reason == "superseded by b"
    assert acks[0].applied_kw == pytest.approx(2.0)
    assert home.applied_commands == 2


def test_an_edge_dc_defers_load_and_catches_up_afterwards(
    dc: EdgeDcNode, clock: ManualClock
) -> None:
    run_for(dc, clock, 60)
    flexible = dc.compute.flexible_kw(dc.load_kw)
    assert flexible > 20.0
    ack = only(dc.receive(command(clock, "defer_load", kw=20.0, duration_s=1800)))
    assert ack.status is AckStatus.ACCEPTED
    run_for(dc, clock, 1800)
    completed = only(dc.take_completions())
    assert completed.applied_kw == pytest.approx(20.0)
    assert dc.compute.backlog_kwh == pytest.approx(10.0, rel=0.02)
    run_for(dc, clock, 3 * 3600, step=60.0)
    assert dc.compute.backlog_kwh == pytest.approx(0.0, abs=1e-6)


def test_an_edge_dc_refuses_to_defer_more_than_its_flexible_load(
    dc: EdgeDcNode, clock: ManualClock
) -> None:
    ack = only(dc.receive(command(clock, "defer_load", kw=90.0)))
    assert ack.status is AckStatus.REJECTED
    assert ack.reason is not None
    assert ack.reason.startswith("kw_over_flexible_load:")


def test_an_edge_dc_battery_is_rated_100_kw(dc: EdgeDcNode, clock: ManualClock) -> None:
    assert only(dc.receive(command(clock, "discharge", kw=100.0))).status is AckStatus.ACCEPTED
    ack = only(dc.receive(command(clock, "discharge", kw=101.0, command_id="c-2")))
    assert ack.reason is not None
    assert ack.reason.startswith("kw_over_capacity:")


def test_edge_dc_telemetry_carries_the_seed_fields(dc: EdgeDcNode, clock: ManualClock) -> None:
    run_for(dc, clock, 5, step=5.0)
    reading = dc.reading(50.01)
    assert reading.cpu_usage is not None
    assert 0 < reading.cpu_usage <= 100
    assert reading.load_factor is not None
    assert 0.4 < reading.load_factor <= 1
    assert reading.network_mb_sent is not None
    assert reading.network_mb_recv is not None
    assert 100.0 <= (reading.load_kw or 0) <= 200.0
    assert reading.power_kw == pytest.approx(dc.load_kw + dc.battery_kw, abs=0.002)
    assert (reading.seq, dc.reading(50.0).seq) == (0, 1)


def test_the_memory_of_command_ids_is_bounded(clock: ManualClock) -> None:
    memory = AckMemory(size=3)
    for i in range(5):
        memory.remember(Ack(command_id=f"c{i}", status=AckStatus.ACCEPTED, at=clock.wall_now()))
    assert len(memory) == 3
    assert "c1" not in memory
    assert "c4" in memory
