"""The hourly flexibility envelope on batteries small enough to check by hand: the SOC
band and losses bound the energy, the node's and the fleet's kW limits the power, with
zero export a home gives only its forecast net load (nothing where unforecast), and a
home's battery is called from where self-consumption took it by then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.optimize.test_guard import LIMITS
from vpp.ml.forecast.settings import Target
from vpp.optimize.fleet import NodeForecast
from vpp.optimize.guard import GuardLimits
from vpp.services.forecasts import (
    ENVELOPE_HOURS,
    EnvelopeBattery,
    ForecastView,
    envelope,
    node_net_load,
)

START = datetime(2026, 12, 4, 17, tzinfo=UTC)
SLOTS = [START + timedelta(hours=k) for k in range(3)]


def limits(**changes: Any) -> GuardLimits:
    """The guard tests' limits (SOC band 10-90 %, no fleet limit, 90 % efficiency, no
    zero export) with 5 kW per node."""
    return replace(LIMITS, **{"node_max_kw": 5.0, **changes})


def battery(
    kw: float, stored: float, room: float, net: list[float | None], home: bool = True
) -> EnvelopeBattery:
    return EnvelopeBattery(
        kw=kw, home=home, stored_kwh=stored, room_kwh=room, net_load_kw=net, rated_kw=kw
    )


def test_power_then_energy_bound_each_hour_and_the_run_of_hours() -> None:
    # A data centre's battery stays as it is until called. 4 kW, 6 kWh deliverable, 10 kWh
    # of room: 4 kW every hour, 6 kWh in all.
    dc = battery(4.0, 6.0, 10.0, [1.0] * 3, home=False)
    hours = envelope([dc], SLOTS, limits(), [None] * 3)
    assert [h.up_kw for h in hours] == [4.0, 4.0, 4.0]
    assert [h.up_kwh for h in hours] == [4.0, 6.0, 6.0]
    assert [h.down_kwh for h in hours] == [4.0, 8.0, 10.0]
    # Less stored than an hour at full power: the hour gets what is stored.
    low = envelope([battery(4.0, 1.5, 0.0, [1.0] * 3, home=False)], SLOTS, limits(), [None] * 3)
    assert [h.up_kw for h in low] == [1.5] * 3
    assert [h.down_kw for h in low] == [0.0] * 3


def test_a_home_is_called_from_where_self_consumption_took_its_battery() -> None:
    """Without losses: 4 kW, 3 kWh stored, 2 kWh of room. Its net load drains it (2 kW),
    a PV surplus of 5 kW fills it (4 kWh of room: full), then 3 kW drains it again; an
    unforecast hour leaves it as it is."""
    slots = [START + timedelta(hours=k) for k in range(6)]
    net: list[float | None] = [2.0, -5.0, 3.0, None, 1.0, 1.0]
    home = battery(4.0, 3.0, 2.0, net)
    hours = envelope([home], slots, limits(efficiency=1.0), [None] * 6)
    assert [h.up_kw for h in hours] == [3.0, 1.0, 4.0, 2.0, 2.0, 1.0]
    assert [h.down_kw for h in hours] == [2.0, 4.0, 0.0, 3.0, 3.0, 4.0]
    # A run of calls from now has only what the battery holds now.
    assert [h.up_kwh for h in hours] == [3.0] * 6
    assert [h.down_kwh for h in hours] == [2.0] * 6
    # The same net load on a data centre moves nothing.
    dc = envelope([replace(home, home=False)], slots, limits(efficiency=1.0), [None] * 6)
    assert [h.up_kw for h in dc] == [3.0] * 6


def test_self_consumption_loses_energy_both_ways() -> None:
    """At 90 %: 2 kWh of PV surplus stored give back 1.62 kWh; 1 kWh given frees 1/0.81."""
    home = battery(4.0, 0.0, 10.0, [-2.0, 1.0, 0.0])
    (first, second, third) = home.left_alone(0.9)
    assert first == (0.0, 10.0)
    assert second == pytest.approx((1.62, 8.0))
    assert third == pytest.approx((0.62, 8.0 + 1.0 / 0.81))
    hours = envelope([home], SLOTS, limits(), [None] * 3)
    assert [h.up_kw for h in hours] == pytest.approx([0.0, 1.62, 0.62])


def test_zero_export_gives_only_the_forecast_net_load() -> None:
    net: list[float | None] = [2.5, -1.0, None]  # evening load, a PV surplus, unforecast
    no_loss = limits(zero_export=True, efficiency=1.0)
    hours = envelope([battery(4.0, 6.0, 10.0, net)], SLOTS, no_loss, [None] * 3)
    assert [h.up_kw for h in hours] == [2.5, 0.0, 0.0]
    # Charging exports nothing; left alone it covers 2.5 kW, then stores 1 kW of PV.
    assert [h.down_kw for h in hours] == [4.0, 4.0, 4.0]
    assert [h.up_kwh for h in hours] == [2.5, 2.5, 2.5]
    full = envelope([battery(4.0, 6.0, 1.0, net)], SLOTS, no_loss, [None] * 3)
    assert [h.down_kw for h in full] == [1.0, 3.5, 2.5]
    # Zero export is the homes' tariff: another node gives what it holds, forecast or not.
    other = envelope(
        [battery(4.0, 6.0, 10.0, net, home=False)], SLOTS, limits(zero_export=True), [None] * 3
    )
    assert [h.up_kw for h in other] == [4.0, 4.0, 4.0]


def test_the_fleet_limit_caps_the_sum_and_its_energy() -> None:
    two = [battery(4.0, 20.0, 20.0, [9.0] * 3), battery(4.0, 20.0, 20.0, [9.0] * 3)]
    hours = envelope(two, SLOTS, limits(fleet_max_kw=5.0), [1.0, None, 3.0])
    assert [h.up_kw for h in hours] == [5.0] * 3
    assert [h.up_kwh for h in hours] == [5.0, 10.0, 15.0]
    assert [h.net_load_kw for h in hours] == [1.0, None, 3.0]
    assert [h.at for h in hours] == SLOTS


def test_a_node_net_load_needs_both_forecasts_within_their_hours() -> None:
    f = NodeForecast("c", START - timedelta(hours=1), [1.0, 2.0, 3.0], [0.5, 0.5, 4.0])
    assert node_net_load(f, SLOTS) == [1.5, -1.0, None]  # the third slot is past the forecast
    assert node_net_load(NodeForecast("c", START, [1.0] * 3, None), SLOTS) == [None] * 3
    assert node_net_load(None, SLOTS) == [None] * 3
    # A day's forecast from START reads its hours and nothing past its last.
    day = NodeForecast("c", START, list(map(float, range(24))), [0.5] * 24)
    hours = [START + timedelta(hours=h) for h in (0, 5, ENVELOPE_HOURS)]
    assert node_net_load(day, hours) == [-0.5, 4.5, None]


def test_a_forecast_view_cuts_to_a_horizon() -> None:
    view = ForecastView(
        "fleet",
        Target.LOAD,
        "c",
        START,
        START,
        60,
        [0.0] * 24,
        list(map(float, range(24))),
        [9.0] * 24,
        "m",
        1,
        None,
    )
    assert view.within(6).q50 == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    quarter = ForecastView(
        "fleet", Target.LOAD, "c", START, START, 15, [0.0] * 8, [1.0] * 8, [2.0] * 8, "m", 1, None
    )
    assert len(quarter.within(1).q50) == 4


@pytest.mark.parametrize("kw", [0.0, 3.0])
def test_an_empty_battery_gives_nothing(kw: float) -> None:
    hours = envelope([battery(kw, 0.0, 0.0, [2.0] * 3)], SLOTS, limits(), [None] * 3)
    assert all(h.up_kw == h.down_kw == h.up_kwh == 0.0 for h in hours)
