"""Site signals: CityLearn rows for times in the data year, the profile year otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vpp.ml.forecast.citylearn import DATA_START, HOURS, profile_row
from vpp.ml.rl.settings import RLSettings
from vpp.ml.rl.signals import data_row, site_arrays, site_signals


def test_rows_in_the_data_year_follow_data_start() -> None:
    assert data_row(DATA_START) == 0
    assert data_row(DATA_START + timedelta(hours=5, minutes=40)) == 5
    assert data_row(DATA_START + timedelta(hours=HOURS - 1)) == HOURS - 1


def test_live_times_map_like_the_edge_simulator() -> None:
    at = datetime(2026, 11, 3, 17, 20, tzinfo=UTC)
    assert data_row(at) == profile_row(at)
    # The same calendar hour of the data year.
    assert data_row(at) == data_row(datetime(2016, 11, 3, 17, tzinfo=UTC))


def test_peak_tariff_and_wrap_around(rl: RLSettings) -> None:
    price, carbon = site_arrays(rl.data_dir)
    s = site_signals(datetime(2017, 1, 10, 15, 30, tzinfo=UTC), 6, rl.data_dir)
    assert s.start == datetime(2017, 1, 10, 15, tzinfo=UTC)
    assert s.prices_per_kwh == [0.5] * 5 + [0.21]  # hours ending 16-20 are the peak
    end = site_signals(DATA_START + timedelta(hours=HOURS - 1), 3, rl.data_dir)
    assert end.prices_per_kwh == [price[HOURS - 1], price[0], price[1]]
    assert end.carbon_kg_per_kwh == [carbon[HOURS - 1], carbon[0], carbon[1]]


def test_bad_input_is_a_clear_error(rl: RLSettings) -> None:
    with pytest.raises(ValueError, match="time zone"):
        site_signals(datetime(2026, 1, 1), 24, rl.data_dir)
    with pytest.raises(ValueError, match="at least 1"):
        site_signals(datetime(2026, 1, 1, tzinfo=UTC), 0, rl.data_dir)
