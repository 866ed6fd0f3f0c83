"""The forecasters: causal residual transform, quantiles, storage, and no leakage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.forecast.conftest import START, daily_series
from vpp.ml.forecast import models
from vpp.ml.forecast.citylearn import DATA_START, LeakageError, load_year
from vpp.ml.forecast.models import (
    DAY_H,
    LEGACY_BASELINE,
    LEVEL_H,
    SUN_SOFTENING_W_M2,
    ForecastError,
    LightGBM,
    SeriesWindow,
    SiteWindow,
    baseline_and_level,
    load_forecaster,
    make_forecaster,
)
from vpp.ml.forecast.settings import BaselineParams, ForecastSettings, ModelKind, Target
from vpp.ml.forecast.solar import clear_sky_ghi


def site(days: int, seed: int = 1) -> SiteWindow:
    rng = np.random.default_rng(seed)
    hours = days * 24
    return SiteWindow(
        START,
        {
            "temperature_c": 20 + 5 * rng.standard_normal(hours),
            "humidity_pct": 50 + 10 * rng.standard_normal(hours),
            "diffuse_w_m2": np.abs(100 * rng.standard_normal(hours)),
            "direct_w_m2": np.abs(300 * rng.standard_normal(hours)),
        },
    )


FONTANA = models.solar_site(ForecastSettings())


@pytest.mark.parametrize("baseline", [LEGACY_BASELINE, BaselineParams(days=14, trim=4)])
@pytest.mark.parametrize("follows_sun", [False, True])
def test_baseline_and_level_read_only_values_a_day_or_more_before(
    baseline: BaselineParams, follows_sun: bool
) -> None:
    values = np.random.default_rng(0).random(500)
    sun = clear_sky_ghi(FONTANA, START, 524) if follows_sun else None
    base, level = baseline_and_level(values, 24, 1e-3, baseline, sun)
    j = 400
    changed = values.copy()
    changed[j] += 10.0
    base2, level2 = baseline_and_level(changed, 24, 1e-3, baseline, sun)
    differs = ~np.isclose(base, base2, equal_nan=True) | ~np.isclose(level, level2, equal_nan=True)
    assert differs.any()
    assert np.flatnonzero(differs).min() >= j + DAY_H
    # Reaching further than a day ahead would need values after the origin.
    with pytest.raises(ForecastError):
        baseline_and_level(values, 25, 1e-3)


def test_baseline_is_the_median_of_the_same_hour_over_a_week() -> None:
    values = np.arange(400.0)
    base, level = baseline_and_level(values, 0, 1e-3)
    t = 300
    assert base[t] == np.median([t - 24 * k for k in range(1, 8)])
    assert level[t] == pytest.approx(np.mean(values[t - 192 : t - 24]))
    assert np.isnan(base[:168]).all()
    assert np.isnan(level[:LEVEL_H]).all()


def test_a_trimmed_baseline_leaves_out_the_odd_days() -> None:
    """14 days, 4 left out at each end: the mean of the middle six, so outlying days
    (a party, a cloudy day) do not move it however far out they lie."""
    rng = np.random.default_rng(3)
    values = rng.random(500)
    t = 400
    days = [values[t - 24 * k] for k in range(1, 15)]
    expected = np.mean(sorted(days)[4:10])
    base, _ = baseline_and_level(values, 0, 1e-3, BaselineParams(days=14, trim=4))
    assert base[t] == pytest.approx(expected)
    # The highest day becomes a party, the lowest a cloudy day: both stay left out.
    odd = values.copy()
    odd[t - 24 * (1 + int(np.argmax(days)))] += 100.0
    odd[t - 24 * (1 + int(np.argmin(days)))] -= 100.0
    assert baseline_and_level(odd, 0, 1e-3, BaselineParams(days=14, trim=4))[0][t] == (
        pytest.approx(expected)
    )
    assert np.isnan(base[: 14 * 24]).all()


def test_a_sun_following_baseline_keeps_up_with_lengthening_days() -> None:
    """A profile in step with the clear sky through March, when Fontana's days grow
    fastest: each past day scaled by the sun's change since gives today's value, where
    the plain b of three weeks trails it at dawn and dusk."""
    hours = 30 * DAY_H
    sun = clear_sky_ghi(FONTANA, datetime(2017, 3, 1, tzinfo=UTC), hours + DAY_H)
    profile = 0.004 * (sun + SUN_SOFTENING_W_M2)
    three_weeks = BaselineParams(days=21, trim=7)
    follows, _ = baseline_and_level(profile[:hours], 24, 1e-3, three_weeks, sun)
    plain, _ = baseline_and_level(profile[:hours], 24, 1e-3, three_weeks)
    known = slice(21 * DAY_H, None)
    np.testing.assert_allclose(follows[known], profile[known])
    assert np.max(np.abs(plain[known] - profile[known])) > 0.2  # kW, at sunrise and sunset
    with pytest.raises(ValueError, match="clear sky covers"):
        baseline_and_level(profile[:hours], 24, 1e-3, three_weeks, sun[:-1])


def test_the_sun_following_baseline_is_closer_to_the_datas_pv(data_dir: Path) -> None:
    """On the fleet's metered PV: nearer the actuals in spring and autumn, as near around
    midsummer, for the week's median and the trimmed three weeks alike."""
    pv = load_year(data_dir).fleet("pv_kw")
    sun = clear_sky_ghi(FONTANA, DATA_START, len(pv))

    def rows(first: datetime, end: datetime) -> slice:
        return slice(*(int((t - DATA_START).total_seconds()) // 3600 for t in (first, end)))

    spring = rows(datetime(2017, 2, 1, tzinfo=UTC), datetime(2017, 5, 1, tzinfo=UTC))
    autumn = rows(datetime(2016, 9, 1, tzinfo=UTC), datetime(2016, 12, 1, tzinfo=UTC))
    summer = rows(datetime(2017, 5, 1, tzinfo=UTC), datetime(2017, 7, 31, tzinfo=UTC))
    for baseline in (LEGACY_BASELINE, BaselineParams(days=21, trim=7)):
        plain, _ = baseline_and_level(pv, 0, 1e-3, baseline)
        follows, _ = baseline_and_level(pv, 0, 1e-3, baseline, sun)

        def mae(b: np.ndarray, season: slice) -> float:
            return float(np.mean(np.abs(b[season] - pv[season])))

        assert mae(follows, spring) < mae(plain, spring)
        assert mae(follows, autumn) < mae(plain, autumn)
        assert mae(follows, summer) < 1.01 * mae(plain, summer)


def test_only_pv_baselines_follow_the_sun(small: ForecastSettings) -> None:
    assert make_forecaster(ModelKind.LIGHTGBM, Target.PV, small).params()["sun_baseline"]
    assert not make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small).params()["sun_baseline"]
    off = small.model_copy(update={"pv_sun_baseline": False})
    assert not make_forecaster(ModelKind.TIDE, Target.PV, off).params()["sun_baseline"]


def test_a_baseline_trimmed_to_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="leaves none"):
        BaselineParams(days=6, trim=3)


def test_seasonal_naive_repeats_yesterday_with_an_interval_from_daily_changes(
    small: ForecastSettings,
) -> None:
    w = daily_series("a", 30)
    [f] = make_forecaster(ModelKind.SEASONAL_NAIVE, Target.LOAD, small).predict([w], 24)
    np.testing.assert_allclose(f.q50, w.values[-24:])
    assert f.start == w.end
    assert (f.q10 <= f.q50).all()
    assert (f.q50 <= f.q90).all()
    assert (f.q90 - f.q10).mean() > 0.1  # noise of 0.1 on both days


def test_a_window_too_short_is_refused(small: ForecastSettings) -> None:
    """The two-week baseline needs 14 days and the lags one more: 14 days are refused."""
    w = daily_series("a", 14)
    lgbm = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    assert isinstance(lgbm, LightGBM)
    assert lgbm.min_history_h == 15 * DAY_H
    lgbm.fitted = True
    lgbm.models = [object(), object()]
    with pytest.raises(ForecastError, match="needs 360 h"):
        lgbm.predict([w], 24, site(16))


@pytest.mark.parametrize("kind", [ModelKind.EXP_SMOOTHING, ModelKind.LIGHTGBM, ModelKind.TIDE])
def test_every_model_gives_ordered_nonnegative_quantiles(
    kind: ModelKind, small: ForecastSettings
) -> None:
    train = [daily_series(f"s{i}", 40, seed=i, level=1.0 + i) for i in range(3)]
    forecaster = make_forecaster(kind, Target.LOAD, small)
    forecaster.fit(train, site(40))
    windows = [w.tail(small.lookback_h) for w in train]
    out = forecaster.predict(windows, 24, site(40))
    assert [f.series_id for f in out] == ["s0", "s1", "s2"]
    for f, w in zip(out, windows, strict=True):
        assert f.steps == 24
        assert f.start == w.end
        assert (f.q10 <= f.q50).all()
        assert (f.q50 <= f.q90).all()
        assert (f.q10 >= 0).all()
        # The shape is learnt: the median follows yesterday within the noise.
        assert np.abs(f.q50 - w.values[-24:]).mean() < 0.5


def test_a_global_model_survives_save_and_load(tmp_path: Path, small: ForecastSettings) -> None:
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    lgbm = make_forecaster(ModelKind.LIGHTGBM, Target.PV, small)
    lgbm.fit(train, site(40))
    lgbm.save(tmp_path)
    again = load_forecaster(tmp_path)
    assert (again.kind, again.target, again.fitted) == (ModelKind.LIGHTGBM, Target.PV, True)
    w = [t.tail(small.lookback_h) for t in train]
    a = lgbm.predict(w, 24, site(40))
    b = again.predict(w, 24, site(40))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x.q10, y.q10)
        np.testing.assert_allclose(x.q50, y.q50)
        np.testing.assert_allclose(x.q90, y.q90)
    assert again.params()["baselines"] == "7/3 14/4"
    assert again.params()["sun_baseline"] is True
    assert sorted(p.name for p in tmp_path.glob("*.darts")) == ["model-0.darts", "model-1.darts"]


def test_a_pv_model_saved_before_b_followed_the_sun_keeps_its_plain_b(
    tmp_path: Path, small: ForecastSettings
) -> None:
    """Stored without the flag (the platform's earlier PV models), a model forecasts on
    the plain b it learnt its residuals on, though the settings now say otherwise."""
    plain = small.model_copy(update={"pv_sun_baseline": False})

    def forget(meta: dict[str, Any]) -> None:
        del meta["state"]["sun_baseline"]
        del meta["settings"]["pv_sun_baseline"]

    old, train = _saved_and_edited(tmp_path, plain, Target.PV, forget)
    again = load_forecaster(tmp_path)
    assert again.params()["sun_baseline"] is False
    _assert_same_medians(old, again, train, small)


def _saved_and_edited(
    folder: Path, settings: ForecastSettings, target: Target, edit: Any
) -> tuple[models.Forecaster, list[SeriesWindow]]:
    """A LightGBM fitted, saved in `folder`, and its stored description passed to `edit`
    (to make it look as an earlier platform stored it); the model and its training."""
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    model = make_forecaster(ModelKind.LIGHTGBM, target, settings)
    model.fit(train, site(40))
    model.save(folder)
    meta = json.loads((folder / models.META_FILE).read_text())
    edit(meta)
    (folder / models.META_FILE).write_text(json.dumps(meta))
    return model, train


def _assert_same_medians(
    a: models.Forecaster, b: models.Forecaster, train: list[SeriesWindow], s: ForecastSettings
) -> None:
    w = [t.tail(s.lookback_h) for t in train]
    for x, y in zip(a.predict(w, 24, site(40)), b.predict(w, 24, site(40)), strict=True):
        np.testing.assert_allclose(x.q50, y.q50)


def test_variability_is_the_mean_day_on_day_change_over_the_mean() -> None:
    day = np.sin(np.arange(24)) + 2.0
    assert models.variability(np.tile(day, 10)) == 0.0
    # Days of 1 kW and 3 kW in turn: every hour moves 2 kW on a mean of 2 kW.
    alternating = np.concatenate([np.full(24, 1.0 + 2.0 * (d % 2)) for d in range(10)])
    assert models.variability(alternating) == pytest.approx(1.0)
    assert models.variability(np.zeros(240)) == 0.0
    assert models.variability(np.ones(24)) == 0.0  # no day to compare with


def test_rolling_variability_is_the_variability_of_the_weeks_up_to_each_hour() -> None:
    values = np.random.default_rng(5).random(2000) + 0.5
    rolling = models.rolling_variability(values)
    window = models.VARIABILITY_WINDOW_H
    for t in (30, window - 1, window, 1500, 1999):
        first = max(t + 1 - window, 0)
        assert rolling[t] == pytest.approx(models.variability(values[first : t + 1]))
    # What comes after an hour never moves its reading.
    changed = values.copy()
    changed[1001:] *= 3.0
    np.testing.assert_array_equal(models.rolling_variability(changed)[:1001], rolling[:1001])


def test_only_load_models_read_the_variability_and_the_baseline_shape(
    small: ForecastSettings,
) -> None:
    load = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    pv = make_forecaster(ModelKind.LIGHTGBM, Target.PV, small)
    tide = make_forecaster(ModelKind.TIDE, Target.LOAD, small)
    assert [m.params()["variability"] for m in (load, pv, tide)] == ["rolling", None, None]
    assert [m.params()["baseline_shape"] for m in (load, pv, tide)] == [True, False, False]


def _peaking_at(hours_of_day: tuple[int, ...], days: int) -> list[SeriesWindow]:
    """One home per hour of day, its load peaking there at 3.5 kW over a 0.5 kW night,
    with noise in proportion to the load: at its peak a home's spread is 7 times its
    spread twelve hours away."""
    rng = np.random.default_rng(3)
    hours = np.arange(days * 24)
    out = []
    for i, peak in enumerate(hours_of_day):
        from_peak = (hours % 24 - peak + 12) % 24 - 12
        shape = 0.5 + 3.0 * np.exp(-(from_peak**2) / 8.0)
        out.append(SeriesWindow(f"home-{i}", START, shape * rng.lognormal(0.0, 0.5, hours.size)))
    return out


def test_a_load_models_interval_follows_its_own_homes_daily_shape(
    small: ForecastSettings,
) -> None:
    """Two homes whose peaks are twelve hours apart: the model reads each home's b / s at
    the forecast hours, so each gets its wide interval at its own peak and a narrow one
    at the other's (the data's spread there is a seventh of the peak's), not one width
    for both homes at an hour of day."""
    homes = _peaking_at((6, 18), 40)
    model = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    model.fit(homes, site(40))
    ratios = []
    for back in (24, 31, 38):  # origins at three hours of the day
        windows = [
            SeriesWindow(h.series_id, h.start, h.values[:-back]).tail(small.lookback_h)
            for h in homes
        ]
        for forecast, peak, other in zip(
            model.predict(windows, 24, site(40)), (6, 18), (18, 6), strict=True
        ):
            first = int((forecast.start - START).total_seconds() // 3600)
            hour = (first + np.arange(24)) % 24
            width = forecast.q90 - forecast.q10
            ratios.append(width[hour == other][0] / width[hour == peak][0])
    assert float(np.mean(ratios)) < 0.25


def _smooth_and_noisy(days: int) -> list[SeriesWindow]:
    """Two home-like series and a smooth one, as a fleet is beside its homes."""
    rng = np.random.default_rng(3)
    hours = np.arange(days * 24)
    shape = 2.0 + np.sin(2 * np.pi * hours / 24)
    homes = [
        SeriesWindow(f"home-{i}", START, shape * rng.lognormal(0.0, 0.6, hours.size))
        for i in range(2)
    ]
    fleet = SeriesWindow("fleet", START, 2.0 * shape * rng.lognormal(0.0, 0.1, hours.size))
    return [*homes, fleet]


def test_a_load_model_forecasts_from_each_windows_variability(
    small: ForecastSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The variability reaches the boosters from the window forecast: the same windows
    said to be as variable as a home get other quantiles than their own."""
    train = _smooth_and_noisy(40)
    model = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    model.fit(train, site(40))
    windows = [w.tail(small.lookback_h) for w in train]
    own = model.predict(windows, 24, site(40))
    home_like = models.rolling_variability(train[0].values)[-1]
    monkeypatch.setattr(
        models, "rolling_variability", lambda values: np.full(len(values), home_like)
    )
    said_noisy = model.predict(windows, 24, site(40))
    fleet_own, fleet_said = own[-1], said_noisy[-1]
    assert not np.allclose(fleet_own.q90 - fleet_own.q10, fleet_said.q90 - fleet_said.q10)


@pytest.mark.parametrize(("feature", "off"), [("variability", None), ("baseline_shape", False)])
def test_a_load_model_saved_before_a_feature_forecasts_without_it(
    tmp_path: Path, small: ForecastSettings, feature: str, off: bool | None
) -> None:
    """Stored without the feature's flag (the platform's earlier load models), a model
    forecasts from the features it was trained on, though the settings now add it."""
    without = small.model_copy(deep=True)
    setattr(without.lightgbm, feature, [])

    def forget(meta: dict[str, Any]) -> None:
        del meta["state"][feature]
        del meta["settings"]["lightgbm"][feature]

    old, train = _saved_and_edited(tmp_path, without, Target.LOAD, forget)
    again = load_forecaster(tmp_path)
    assert again.params()[feature] is off
    _assert_same_medians(old, again, train, small)


def test_a_load_model_saved_with_the_static_variability_forecasts_with_it(
    tmp_path: Path, small: ForecastSettings
) -> None:
    """A load model stored before the rolling reading (its flag stored as true) read one
    variability per series; loaded, it still does."""
    train = _smooth_and_noisy(40)
    old = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    assert isinstance(old, LightGBM)
    old.variability = models.Variability.STATIC
    old.fit(train, site(40))
    old.save(tmp_path)
    meta = json.loads((tmp_path / models.META_FILE).read_text())
    meta["state"]["variability"] = True
    (tmp_path / models.META_FILE).write_text(json.dumps(meta))
    again = load_forecaster(tmp_path)
    assert again.params()["variability"] == "static"
    _assert_same_medians(old, again, train, small)


def test_a_global_model_is_the_mean_of_one_model_per_baseline(small: ForecastSettings) -> None:
    """Each baseline's booster set forecasts on its own; the model's quantiles are their
    mean, so it differs from each and lies between them."""
    train = [daily_series(f"s{i}", 40, seed=i, level=1.0 + i) for i in range(3)]
    both = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    both.fit(train, site(40))
    windows = [w.tail(small.lookback_h) for w in train]
    alone = []
    for baseline in small.lightgbm.baselines:
        one = small.model_copy(deep=True)
        one.lightgbm.baselines = [baseline]
        member = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, one)
        member.fit(train, site(40))
        alone.append(member.predict(windows, 24, site(40)))
    for f, a, b in zip(both.predict(windows, 24, site(40)), *alone, strict=True):
        np.testing.assert_allclose(f.q50, (a.q50 + b.q50) / 2, rtol=1e-6)
        assert not np.allclose(a.q50, b.q50)


def test_a_model_saved_before_the_baseline_setting_loads_with_its_weekly_median(
    tmp_path: Path, small: ForecastSettings
) -> None:
    """A model stored without its b (the platform's earlier ones) keeps the median of
    seven days it learnt its residuals on, whatever the settings' b is now."""
    legacy = small.model_copy(deep=True)
    legacy.lightgbm.baselines = [LEGACY_BASELINE]

    # As stored before b was a setting: no b in the state or settings, one model.darts.
    def forget(meta: dict[str, Any]) -> None:
        del meta["state"]["baselines"]
        del meta["settings"]["lightgbm"]["baselines"]

    old, train = _saved_and_edited(tmp_path, legacy, Target.LOAD, forget)
    (tmp_path / "model-0.darts").rename(tmp_path / models.DARTS_FILE)
    again = load_forecaster(tmp_path)
    assert again.params()["baselines"] == "7/3"
    _assert_same_medians(old, again, train, small)


def test_nothing_after_the_origin_reaches_a_model(
    small: ForecastSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Covariates are cut at the window's end, carry no *_predicted_* column, and changing
    the weather or the load after the origin changes nothing."""
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    weather = site(40)
    lgbm = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, small)
    assert isinstance(lgbm, LightGBM)
    lgbm.fit(train, weather)

    seen: list[Any] = []

    def spying(model: Any) -> None:
        real_predict = model.predict

        def spy(n: int, **kwargs: Any) -> Any:
            seen.append(kwargs)
            return real_predict(n, **kwargs)

        monkeypatch.setattr(model, "predict", spy)

    for model in lgbm.models:
        spying(model)
    origin_h = 30 * 24
    window = SeriesWindow("s0", START, train[0].values[:origin_h])
    [before] = lgbm.predict([window], 24, weather)
    origin = START + timedelta(hours=origin_h)
    assert len(seen) == len(lgbm.models) == 2  # every baseline's model reads the same cut
    for call, baseline in zip(seen, lgbm.baselines, strict=True):
        for covariates in call["past_covariates"]:
            assert covariates.end_time() < origin.replace(tzinfo=None)
            assert not [c for c in covariates.components if "predict" in c]
        for target in call["series"]:
            assert target.end_time() < origin.replace(tzinfo=None)
        # After the origin only astronomy, computed from the clock alone, and b / s of the
        # forecast hours, computed from the window alone (values a day or more before).
        for futures in call["future_covariates"]:
            assert list(futures.components) == [models.CLEAR_SKY, models.BASELINE_SHAPE]
            hours = len(futures)
            start = futures.start_time().to_pydatetime().replace(tzinfo=UTC)
            expected = clear_sky_ghi(models.solar_site(small), start, hours) / 1000.0
            np.testing.assert_allclose(futures.values()[:, 0], expected, rtol=1e-5, atol=1e-6)
            assert futures.end_time() == (origin + timedelta(hours=23)).replace(tzinfo=None)
            base, level = baseline_and_level(
                window.values, DAY_H, models.level_floor(window.values), baseline
            )
            shape = (base / level)[-hours:]
            np.testing.assert_allclose(futures.values()[:, 1], shape, rtol=1e-5)

    future = {k: v.copy() for k, v in weather.channels.items()}
    for v in future.values():
        v[origin_h:] += 1000.0
    [after] = lgbm.predict([window], 24, SiteWindow(START, future))
    np.testing.assert_allclose(before.q50, after.q50)


def test_the_clearness_is_cut_at_the_origin_with_the_weather(small: ForecastSettings) -> None:
    """The derived clearness channel comes from the window's own measured hours."""
    weather = site(10)
    cut = weather.between(START, START + timedelta(hours=100))
    derived = models.with_clearness(cut, models.solar_site(small))
    assert derived.hours == 100
    assert models.CLEARNESS in derived.channels
    whole = models.with_clearness(weather, models.solar_site(small))
    np.testing.assert_allclose(
        derived.channels[models.CLEARNESS], whole.channels[models.CLEARNESS][:100]
    )


def test_a_site_window_refuses_a_predicted_channel() -> None:
    with pytest.raises(LeakageError):
        SiteWindow(START, {"outdoor_dry_bulb_temperature_predicted_1": np.zeros(3)})


def test_a_site_window_will_not_reach_past_what_it_holds() -> None:
    weather = site(2)
    with pytest.raises(ForecastError, match="covers"):
        weather.between(START, START + timedelta(hours=49))


def test_models_module_names_every_kind() -> None:
    settings = ForecastSettings()
    for kind in ModelKind:
        assert models.make_forecaster(kind, Target.LOAD, settings).kind is kind
