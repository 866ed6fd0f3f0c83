"""The sun's covariates: astronomy at the site, and the clearness of the measured sky."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from vpp.ml.forecast.citylearn import DATA_START, load_year
from vpp.ml.forecast.models import solar_site
from vpp.ml.forecast.settings import ForecastSettings
from vpp.ml.forecast.solar import Site, clear_sky_ghi, clearness, cos_zenith

# Fontana, California: its wall clock stamped as if UTC, an hour early, as the data is.
FONTANA = Site(34.09, -117.43, "America/Los_Angeles", 1.0)
# The same place on a clock that never changes (Pacific standard time).
FONTANA_STANDARD = Site(34.09, -117.43, "Etc/GMT+8")
SPRING_FORWARD = datetime(2017, 3, 12, tzinfo=UTC)  # 02:00 became 03:00 in Fontana
MIDSUMMER = datetime(2017, 6, 21, tzinfo=UTC)
MIDWINTER = datetime(2016, 12, 21, tzinfo=UTC)


def test_the_clear_sky_is_bright_at_noon_and_dark_at_night() -> None:
    day = clear_sky_ghi(FONTANA, MIDSUMMER, 24)
    assert day[11] > 800.0  # 11:00-12:00 on the longest day
    assert day[0] == 0.0
    assert day[2] == 0.0
    assert day[22] == 0.0
    assert (day >= 0.0).all()
    # Noon is the brightest hour, and the day is about symmetric around it.
    assert int(np.argmax(day)) in (11, 12)
    assert day[8] == pytest.approx(day[15], rel=0.15)


def test_summer_days_are_longer_and_brighter_than_winter_days() -> None:
    summer = clear_sky_ghi(FONTANA, MIDSUMMER, 24)
    winter = clear_sky_ghi(FONTANA, MIDWINTER, 24)
    assert summer.sum() > 1.5 * winter.sum()
    assert (summer > 0).sum() > (winter > 0).sum()


def test_the_sun_is_near_its_known_noon_height() -> None:
    """At 34.09 N the noon sun stands 90 - 34.09 + 23.44 = 79.3 degrees high at the
    solstice; the hour around noon averages a little lower."""
    noon = cos_zenith(FONTANA, MIDSUMMER + timedelta(hours=11), 2)
    elevation = np.degrees(np.arcsin(noon.max()))
    assert 74.0 < elevation < 79.4


def test_the_clock_offset_moves_the_day() -> None:
    """The same site read on true UTC sees its day 8 hours later."""
    local = clear_sky_ghi(FONTANA, MIDSUMMER, 48)
    utc = clear_sky_ghi(Site(34.09, -117.43), MIDSUMMER, 48)
    np.testing.assert_allclose(local[:40], utc[8:48], atol=1.0)


def test_daylight_saving_moves_the_clocks_day_an_hour() -> None:
    """Sunrise keeps its true time, so on the wall clock it comes an hour later the day
    after the spring change; on a clock without the change, a minute or two earlier."""

    def first_light(site: Site, day: datetime) -> int:
        return int(np.argmax(clear_sky_ghi(site, day, 24) > 0))

    before, after = SPRING_FORWARD - timedelta(days=1), SPRING_FORWARD + timedelta(days=1)
    assert first_light(FONTANA, after) == first_light(FONTANA, before) + 1
    assert first_light(FONTANA_STANDARD, after) == first_light(FONTANA_STANDARD, before)


def test_the_clocks_offset_follows_its_zone_hour_by_hour() -> None:
    # From 00:00 stamped (01:00 on the wall) on the day of the change: 02:00 does not
    # exist on the wall and reads as the hour before the change; from 03:00 on, UTC-7.
    offsets = FONTANA.utc_offsets_h(SPRING_FORWARD, 6)
    assert offsets.tolist() == [-8.0, -8.0, -7.0, -7.0, -7.0, -7.0]
    # A long span without a change is one offset throughout.
    assert set(FONTANA.utc_offsets_h(datetime(2017, 4, 1, tzinfo=UTC), 24 * 60)) == {-7.0}
    assert set(Site(0.0, 0.0).utc_offsets_h(SPRING_FORWARD, 24 * 400)) == {0.0}


def test_the_sites_clock_must_be_a_known_time_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Pacific/Fontana'"):
        Site(34.09, -117.43, "Pacific/Fontana")
    with pytest.raises(ValueError, match="clock lag"):
        Site(34.09, -117.43, "UTC", 25.0)
    with pytest.raises(ValueError, match="unknown time zone 'PST-8-ish'"):
        ForecastSettings(site_clock="PST-8-ish")


def _centroid_offset_h(pv: np.ndarray, clear: np.ndarray, first_row: int) -> float:
    """The median over 7 days from `first_row` of the PV's daily centroid hour minus
    the clear sky's."""
    hours = np.arange(24) + 0.5
    offsets = []
    for day in range(7):
        rows = slice(first_row + 24 * day, first_row + 24 * (day + 1))
        offsets.append(
            np.sum(pv[rows] * hours) / np.sum(pv[rows])
            - np.sum(clear[rows] * hours) / np.sum(clear[rows])
        )
    return float(np.median(offsets))


def test_the_default_site_keeps_the_datas_pv_in_step_with_the_sun(data_dir: Path) -> None:
    """The metered PV shows the data's clock: its midday moves an hour at both daylight
    saving changes. Against the default site's clear sky it moves by minutes (the sun
    moves too), where a clock without the changes is an hour out half the year; and
    almost no PV falls in hours the default site calls night."""
    pv = load_year(data_dir, [1, 2, 3]).fleet("pv_kw")
    hours = len(pv)
    default = clear_sky_ghi(solar_site(ForecastSettings()), DATA_START, hours)
    standard = clear_sky_ghi(FONTANA_STANDARD, DATA_START, hours)
    week = 24 * 7
    for change in (datetime(2016, 11, 6, tzinfo=UTC), SPRING_FORWARD):
        row = int((change - DATA_START).total_seconds() // 3600) + 1  # the next midnight
        for clear, most in ((default, 0.25), (standard, None)):
            shift = _centroid_offset_h(pv, clear, row) - _centroid_offset_h(pv, clear, row - week)
            if most is None:
                assert abs(shift) > 0.6  # the fixed clock misses the change
            else:
                assert abs(shift) < most
    assert pv[default == 0].sum() < 0.001 * pv.sum()


def test_the_values_are_pure_astronomy_for_any_hour_ahead() -> None:
    """Nothing observed goes in: a window's hours equal the same hours of a longer one."""
    long = clear_sky_ghi(FONTANA, MIDWINTER, 24 * 30)
    later = clear_sky_ghi(FONTANA, MIDWINTER + timedelta(days=10), 24)
    np.testing.assert_allclose(long[240:264], later)


def test_a_site_must_be_on_the_globe() -> None:
    with pytest.raises(ValueError, match="latitude"):
        Site(91.0, 0.0)
    with pytest.raises(ValueError, match="longitude"):
        Site(0.0, 181.0)


def test_clearness_is_the_last_days_light_over_its_clear_sky() -> None:
    clear = np.tile(clear_sky_ghi(FONTANA, MIDSUMMER, 24), 3)
    measured = clear.copy()
    measured[24:48] *= 0.5  # a cloudy second day
    k = clearness(measured, clear)
    assert k[23] == pytest.approx(1.0)
    assert k[47] == pytest.approx(0.5)
    # Through the following night it still says how the last day was.
    assert k[47 + 3] < 0.6
    # Trailing only: changing an hour changes nothing before it.
    changed = measured.copy()
    changed[60] = 0.0
    k2 = clearness(changed, clear)
    np.testing.assert_allclose(k[:60], k2[:60])
    # No light yet: reads as clear rather than as a division by zero.
    assert clearness(np.zeros(5), np.zeros(5)).tolist() == [1.0] * 5
