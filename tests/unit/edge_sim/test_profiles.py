from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vpp.edge_sim.clock import ManualClock
from vpp.edge_sim.node import HomeNode, home_offset_hours, is_home, node_rng
from vpp.edge_sim.profiles import (
    PROFILE_HOURS,
    Building,
    building_for_node,
    load_building,
    profile_position,
)


def csv_rows(data_dir: Path, number: int) -> list[dict[str, str]]:
    with (data_dir / f"Building_{number}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("row", [0, 1, 13, 4000, 6123, PROFILE_HOURS - 1])
def test_building_1_at_the_middle_of_each_hour_is_the_csv_value(
    data_dir: Path, building_1: Building, row: int
) -> None:
    expected = csv_rows(data_dir, 1)[row]
    position = row + 0.5
    assert building_1.load_at(position) == pytest.approx(float(expected["non_shiftable_load"]))
    # solar_generation is W per kW installed; Building 1 has 4 kW of PV.
    pv_kw = float(expected["solar_generation"]) * 4.0 / 1000.0
    assert building_1.pv_at(position) == pytest.approx(pv_kw)


def test_pv_is_scaled_by_each_buildings_nominal_power(data_dir: Path) -> None:
    b4 = load_building(data_dir, 4)  # 5 kW of PV
    rows = csv_rows(data_dir, 4)
    noon = max(range(PROFILE_HOURS), key=lambda i: float(rows[i]["solar_generation"]))
    assert b4.pv_nominal_kw == 5.0
    assert b4.pv_at(noon + 0.5) == pytest.approx(
        float(rows[noon]["solar_generation"]) * 5.0 / 1000.0
    )
    assert b4.pv_at(noon + 0.5) > 3.0


def test_the_battery_comes_from_the_schema(building_1: Building) -> None:
    assert building_1.battery.capacity_kwh == 6.4
    assert building_1.battery.nominal_kw == 5.0
    assert building_1.battery.efficiency == 0.9


def test_between_hours_the_values_are_interpolated(building_1: Building) -> None:
    a, b = building_1.load_kw[100], building_1.load_kw[101]
    assert building_1.load_at(101.0) == pytest.approx((a + b) / 2)
    assert building_1.load_at(100.75) == pytest.approx(0.75 * a + 0.25 * b)
    # The year wraps around: between the last hour and the first.
    assert building_1.load_at(0.0) == pytest.approx(
        (building_1.load_kw[-1] + building_1.load_kw[0]) / 2
    )


def test_clock_time_maps_onto_the_hour_ending_rows() -> None:
    # Row 1 is 1 Aug 00:00-01:00; row 0 is the hour before it.
    assert profile_position(datetime(2026, 8, 1, 0, 30, tzinfo=UTC)) == pytest.approx(1.5)
    assert profile_position(datetime(2026, 7, 31, 23, 30, tzinfo=UTC)) == pytest.approx(0.5)
    # Noon on 2 Aug is row 1 + 36 h: the hour ending 13:00 on day 2.
    assert profile_position(datetime(2026, 8, 2, 12, 30, tzinfo=UTC)) == pytest.approx(37.5)
    assert profile_position(datetime(2026, 8, 1, 0, 30, tzinfo=UTC), 48.0) == pytest.approx(49.5)


def test_nodes_cycle_through_the_17_buildings() -> None:
    assert [building_for_node(n) for n in (1, 2, 17, 18, 35)] == [1, 2, 17, 1, 1]


def test_nodes_sharing_a_building_are_shifted_by_whole_days() -> None:
    offsets = {home_offset_hours(7, n) for n in range(2, 2000, 17)}
    assert len(offsets) > 10
    assert all(o % 24 == 0 and abs(o) <= 14 * 24 for o in offsets)
    assert home_offset_hours(7, 5) == home_offset_hours(7, 5)


def test_home_share_spreads_homes_evenly() -> None:
    assert sum(is_home(n, 0.5) for n in range(1, 1001)) == 500
    assert sum(is_home(n, 0.25) for n in range(1, 101)) == 25
    assert not any(is_home(n, 0.0) for n in range(1, 50))
    assert all(is_home(n, 1.0) for n in range(1, 50))


def test_a_home_node_follows_its_buildings_shifted_profile(building_1: Building) -> None:
    start = datetime(2026, 6, 21, 10, 0, tzinfo=UTC)
    clock = ManualClock(start)
    offset = home_offset_hours(7, 18)
    node = HomeNode("node-00018", 18, clock, node_rng(7, 18), building=building_1, offset_h=offset)
    for _ in range(12):
        clock.advance(300.0)
        node.advance()
        middle = clock.sim_now() - timedelta(seconds=150)
        position = profile_position(middle, offset)
        assert node.pv_kw == pytest.approx(building_1.pv_at(position))
        # Load carries a few per cent of noise around the profile.
        assert node.load_kw == pytest.approx(building_1.load_at(position), rel=0.25)
        # Grid exchange is load - PV + battery charging.
        assert node.power_kw == pytest.approx(node.load_kw - node.pv_kw + node.battery_kw)
