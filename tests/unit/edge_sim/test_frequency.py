from __future__ import annotations

import itertools
import statistics

import pytest

from vpp.edge_sim.frequency import NOMINAL_HZ, FrequencyModel, GridFrequency


def series(grid: GridFrequency, hours: float, step_s: float) -> list[float]:
    steps = int(hours * 3600 / step_s)
    return [grid.at(i * step_s) for i in range(1, steps + 1)]


def test_without_events_it_wanders_about_20_mhz_around_50_hz() -> None:
    grid = GridFrequency(seed=1, model=FrequencyModel(events_per_hour=0.0))
    values = series(grid, hours=48, step_s=5.0)
    assert statistics.fmean(values) == pytest.approx(NOMINAL_HZ, abs=0.005)
    assert statistics.pstdev(values) == pytest.approx(0.02, rel=0.2)
    assert all(49.85 < v < 50.15 for v in values)
    # Neighbouring samples are correlated (a process, not white noise).
    steps = [abs(b - a) for a, b in itertools.pairwise(values)]
    assert statistics.fmean(steps) < 0.5 * statistics.pstdev(values)


def test_events_come_at_the_configured_rate_and_dip_to_49_7_to_49_8() -> None:
    model = FrequencyModel(events_per_hour=2.0)
    grid = GridFrequency(seed=2, model=model)
    hours = 300
    values = series(grid, hours=hours, step_s=2.0)
    expected = model.events_per_hour * hours
    # Poisson: 600 expected, sd about 25.
    assert abs(grid.events_started - expected) < 4 * expected**0.5
    assert 49.6 < min(values) < 49.8
    assert max(values) < 50.15
    assert sum(v < 49.85 for v in values) > grid.events_started  # each dip lasts a while


def test_an_event_falls_in_seconds_and_recovers_over_tens_of_seconds() -> None:
    model = FrequencyModel(sigma_hz=1e-9, events_per_hour=0.0)
    grid = GridFrequency(seed=3, model=model)
    grid._start_event(100.0)
    values = {t: grid.at(float(t)) for t in range(90, 700)}
    nadir_t = min(values, key=values.__getitem__)
    assert values[99] == pytest.approx(NOMINAL_HZ, abs=1e-6)
    assert 103 <= nadir_t <= 108
    assert 49.69 < values[nadir_t] < 49.81
    assert values[nadir_t + 10] < 49.95  # still well below nominal 10 s later
    assert values[699] == pytest.approx(NOMINAL_HZ, abs=0.001)
    assert not grid.in_event


def test_the_same_seed_gives_the_same_grid() -> None:
    a = series(GridFrequency(seed=4), hours=2, step_s=1.0)
    b = series(GridFrequency(seed=4), hours=2, step_s=1.0)
    c = series(GridFrequency(seed=5), hours=2, step_s=1.0)
    assert a == b
    assert a != c
