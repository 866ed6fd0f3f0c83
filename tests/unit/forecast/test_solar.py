"""The sun's covariates: astronomy at the site, and the clearness of the measured sky."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vpp.ml.forecast.solar import Site, clear_sky_ghi, clearness, cos_zenith

# Fontana, California, on local standard time (UTC-8) stamped as if UTC, as the data is.
FONTANA = Site(34.09, -117.43, -8.0)
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
    utc = clear_sky_ghi(Site(34.09, -117.43, 0.0), MIDSUMMER, 48)
    np.testing.assert_allclose(local[:40], utc[8:48], atol=1.0)


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
