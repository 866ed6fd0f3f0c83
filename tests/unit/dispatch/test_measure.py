"""Measured response from a node's readings."""

from __future__ import annotations

import pytest

from tests.unit.dispatch.conftest import at
from vpp.dispatch.measure import HOLD_NOTE, NO_TELEMETRY, Sample, measure_response
from vpp.models import Action


def readings(battery_kw: list[float], load_kw: list[float] | None = None) -> list[Sample]:
    loads = load_kw or [100.0] * len(battery_kw)
    pairs = zip(battery_kw, loads, strict=True)
    return [Sample(at(i), battery, load) for i, (battery, load) in enumerate(pairs)]


def test_charge_is_the_mean_battery_kw_inside_the_command() -> None:
    # Readings at 0 (before) and 11 (after) fall outside (0, 10].
    samples = readings([0.0, 20.0, 20.0, 18.0, 0, 0, 0, 0, 0, 0, 22.0, 0.0])
    samples = [s for s in samples if s.timestamp in (at(0), at(1), at(2), at(3), at(10), at(11))]
    m = measure_response(Action.CHARGE, 20.0, at(0), at(10), samples)
    assert (m.measured_kw, m.ratio, m.note, m.samples) == (20.0, 1.0, None, 4)


def test_discharge_counts_battery_kw_out_of_the_battery() -> None:
    m = measure_response(Action.DISCHARGE, 10.0, at(0), at(3), readings([0.0, -8.0, -8.0, -8.0]))
    assert (m.measured_kw, m.ratio) == (8.0, 0.8)


def test_no_reading_in_the_window_gives_no_ratio_and_says_why() -> None:
    m = measure_response(Action.CHARGE, 5.0, at(100), at(110), readings([5.0, 5.0]))
    assert (m.measured_kw, m.ratio, m.note) == (None, None, NO_TELEMETRY)


def test_a_hold_has_no_ratio() -> None:
    m = measure_response(Action.HOLD, 0.0, at(0), at(2), readings([0.0, 0.5, -0.5]))
    assert (m.measured_kw, m.ratio, m.note) == (0.5, None, HOLD_NOTE)


def test_deferred_load_is_the_load_before_minus_the_load_during() -> None:
    # A baseline of 100 kW in the 30 s before, 70 kW during.
    before = [Sample(at(-20 + i), 0.0, 100.0) for i in range(20)]
    during = [Sample(at(1 + i), 0.0, 70.0) for i in range(5)]
    m = measure_response(Action.DEFER_LOAD, 30.0, at(0), at(5), before + during)
    assert m.measured_kw == pytest.approx(30.0)
    assert m.ratio == pytest.approx(1.0)
    assert m.note is not None
    assert m.note.startswith("estimated")
