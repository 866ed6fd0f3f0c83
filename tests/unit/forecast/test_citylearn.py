"""Reading the CityLearn files: hour-ending rows, PV units, and no column of the future."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vpp.edge_sim.profiles import profile_position
from vpp.ml.forecast import citylearn
from vpp.ml.forecast.citylearn import (
    DATA_START,
    HOURS,
    LeakageError,
    assert_no_future_columns,
    load_building,
    load_site,
    load_year,
    profile_row,
    row_start,
)


def test_rows_are_stamped_with_the_start_of_their_hour_ending_hour(data_dir: Path) -> None:
    with (data_dir / "Building_1.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # Row 0 is hour-ending 24 of Sunday 31 Jul 2016: it starts at 23:00.
    assert (rows[0]["month"], rows[0]["hour"], rows[0]["day_type"]) == ("7", "24", "7")
    assert row_start(0) == datetime(2016, 7, 31, 23, tzinfo=UTC) == DATA_START
    # Row 1 is hour-ending 1 of Monday 1 Aug: 00:00-01:00.
    assert (rows[1]["month"], rows[1]["hour"], rows[1]["day_type"]) == ("8", "1", "1")
    assert row_start(1) == datetime(2016, 8, 1, 0, tzinfo=UTC)
    assert row_start(HOURS - 1) == datetime(2017, 7, 31, 22, tzinfo=UTC)
    index = load_year(data_dir, [1]).index
    assert index[0].isoformat() == "2016-07-31T23:00:00"
    assert len(index) == HOURS


def test_a_file_whose_calendar_disagrees_is_refused(tmp_path: Path, data_dir: Path) -> None:
    (tmp_path / "schema.json").write_text((data_dir / "schema.json").read_text())
    lines = (data_dir / "Building_2.csv").read_text().splitlines()
    # Drop the first data row: every row now claims the hour after its own.
    (tmp_path / "Building_2.csv").write_text("\n".join([lines[0], *lines[2:], lines[1]]) + "\n")
    with pytest.raises(citylearn.CityLearnDataError, match="hour-ending"):
        load_building(tmp_path, 2)


def test_pv_is_scaled_from_w_per_kw_to_kw(data_dir: Path) -> None:
    with (data_dir / "Building_4.csv").open() as fh:
        raw = np.array([float(r["solar_generation"]) for r in csv.DictReader(fh)])
    building = load_building(data_dir, 4)
    assert building.pv_nominal_kw == 5.0
    np.testing.assert_allclose(building.pv_kw, raw * 5.0 / 1000.0)
    # kW of a 5 kW array, not W per kW: a sunny hour is a few kW.
    assert 3.0 < building.pv_kw.max() < 5.0
    assert load_building(data_dir, 1).pv_nominal_kw == 4.0


def test_load_is_the_hourly_kwh_as_average_kw(data_dir: Path) -> None:
    building = load_building(data_dir, 1)
    assert building.load_kw.sum() == pytest.approx(10583.4, abs=0.5)


def test_no_predicted_column_is_read(data_dir: Path) -> None:
    header = (data_dir / "weather.csv").read_text().splitlines()[0].split(",")
    assert any("predicted" in name for name in header)  # the file does hold them
    site = load_site(data_dir)
    assert not [name for name in site.channels if "predict" in name]
    assert set(site.channels) == set(citylearn.SITE_CHANNELS)
    # The temperature channel is the measured column, not one shifted into the future.
    with (data_dir / "weather.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    measured = np.array([float(r["outdoor_dry_bulb_temperature"]) for r in rows])
    ahead = np.array([float(r["outdoor_dry_bulb_temperature_predicted_1"]) for r in rows])
    np.testing.assert_allclose(site.channels["temperature_c"], measured)
    assert not np.allclose(site.channels["temperature_c"], ahead)


@pytest.mark.parametrize(
    "name",
    [
        "outdoor_dry_bulb_temperature_predicted_1",
        "electricity_pricing_predicted_3",
        "Direct Solar Radiation Predicted",
    ],
)
def test_the_guard_refuses_columns_of_the_future(name: str) -> None:
    with pytest.raises(LeakageError):
        assert_no_future_columns(["temperature_c", name])


def test_profile_rows_follow_the_simulators_calendar() -> None:
    assert profile_row(datetime(2026, 8, 1, 0, tzinfo=UTC)) == 1
    assert profile_row(datetime(2026, 7, 31, 23, tzinfo=UTC)) == 0
    assert profile_row(datetime(2026, 8, 1, 0, tzinfo=UTC), offset_h=48) == 49
    t = datetime(2026, 11, 24, 13, tzinfo=UTC)
    for k in range(0, 400, 37):
        hour = t + timedelta(hours=k)
        # The simulator reads the middle of the hour; its floor is our row.
        assert profile_row(hour, 24) == int(profile_position(hour + timedelta(minutes=30), 24.0))
