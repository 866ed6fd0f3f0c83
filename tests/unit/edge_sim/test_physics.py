from __future__ import annotations

import random

import pytest

from vpp.edge_sim.backoff import Backoff
from vpp.edge_sim.physics import Battery, ComputeLoad

HOUR = 3600.0


def home_battery(soc: float) -> Battery:
    return Battery.at_soc(capacity_kwh=6.4, max_kw=5.0, efficiency=0.9, soc=soc)


def test_charging_stops_at_the_upper_soc_limit() -> None:
    battery = home_battery(0.5)
    applied = [battery.run(5.0, 600.0) for _ in range(30)]
    assert battery.soc == pytest.approx(0.95)
    assert battery.at_max
    assert applied[-1] == 0.0
    assert max(applied) <= 5.0


def test_discharging_stops_at_the_lower_soc_limit() -> None:
    battery = home_battery(0.5)
    applied = [battery.run(-5.0, 600.0) for _ in range(30)]
    assert battery.soc == pytest.approx(0.05)
    assert battery.at_min
    assert applied[-1] == 0.0
    assert min(applied) >= -5.0


def test_power_is_clipped_to_the_battery_rating() -> None:
    battery = home_battery(0.5)
    assert battery.run(12.0, 60.0) == 5.0
    assert battery.run(-12.0, 60.0) == -5.0


def test_a_step_that_would_overshoot_is_cut_to_land_on_the_limit() -> None:
    battery = home_battery(0.9)
    # 0.05 * 6.4 kWh of room = 0.32 kWh stored = 0.3556 kWh at the terminals in an hour.
    applied = battery.run(5.0, HOUR)
    assert applied == pytest.approx(0.32 / 0.9)
    assert battery.soc == pytest.approx(0.95)


def test_efficiency_is_lost_on_the_way_in_and_on_the_way_out() -> None:
    battery = home_battery(0.5)
    start = battery.energy_kwh
    battery.run(1.0, HOUR)
    assert battery.energy_kwh - start == pytest.approx(0.9)
    battery.run(-1.0, HOUR)
    assert battery.energy_kwh - start == pytest.approx(0.9 - 1.0 / 0.9)
    # Round trip: of 1 kWh put in, 0.81 kWh come back out before the store is back where it was.
    battery = home_battery(0.5)
    start = battery.energy_kwh
    battery.run(1.0, HOUR)
    battery.run(-1.0, 0.81 * HOUR)
    assert battery.energy_kwh == pytest.approx(start)


def test_the_initial_state_is_clamped_into_the_soc_window() -> None:
    assert home_battery(0.0).soc == pytest.approx(0.05)
    assert home_battery(1.0).soc == pytest.approx(0.95)


def test_deferred_compute_is_caught_up_afterwards() -> None:
    load = ComputeLoad(mean_kw=150.0, capacity_kw=200.0)
    drawn, deferred = load.run(150.0, defer_kw=30.0, seconds=HOUR)
    assert (drawn, deferred) == (120.0, 30.0)
    assert load.backlog_kwh == pytest.approx(30.0)
    # Only the flexible share can be deferred.
    drawn, deferred = load.run(100.0, defer_kw=80.0, seconds=HOUR)
    assert deferred == pytest.approx(30.0)
    assert drawn == pytest.approx(70.0)
    # Afterwards the backlog is worked off, never above capacity, and no energy is lost.
    extra = 0.0
    for _ in range(20):
        drawn, _ = load.run(150.0, defer_kw=0.0, seconds=HOUR)
        assert drawn <= 200.0
        extra += drawn - 150.0
    assert load.backlog_kwh == pytest.approx(0.0)
    assert extra == pytest.approx(60.0)


def test_backoff_grows_with_jitter_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(random.Random(1), first_s=0.5, cap_s=4.0)
    delays = [backoff.next_delay() for _ in range(8)]
    steps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(step / 2 <= d <= step for d, step in zip(delays, steps, strict=True))
    assert len(set(delays)) == len(delays)
    backoff.reset()
    assert backoff.next_delay() <= 0.5
