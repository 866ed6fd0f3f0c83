"""The ensemble: the quantile-wise mean of its members, stored and loaded as one model."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tests.unit.forecast.conftest import START, daily_series
from tests.unit.forecast.test_models import site
from vpp.ml.forecast.backtest import Plan, evaluate
from vpp.ml.forecast.ensemble import Ensemble
from vpp.ml.forecast.models import load_forecaster, make_forecaster
from vpp.ml.forecast.registry import pack, unpack
from vpp.ml.forecast.settings import (
    BaselineParams,
    EnsembleParams,
    ForecastSettings,
    ModelKind,
    Target,
)


@pytest.fixture
def pair(small: ForecastSettings) -> ForecastSettings:
    small.ensemble.members = [ModelKind.SEASONAL_NAIVE, ModelKind.LIGHTGBM]
    return small


@pytest.fixture
def lean(pair: ForecastSettings) -> ForecastSettings:
    """The pair with a LightGBM of one booster set of a few rounds: for tests that fit it
    several times."""
    pair.lightgbm.baselines = [BaselineParams(days=7, trim=3)]
    pair.lightgbm.n_estimators = 5
    pair.lightgbm.solar = False
    return pair


def test_the_ensemble_is_the_mean_of_its_members(pair: ForecastSettings) -> None:
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    ensemble = make_forecaster(ModelKind.ENSEMBLE, Target.LOAD, pair)
    assert isinstance(ensemble, Ensemble)
    ensemble.fit(train, site(40))
    windows = [w.tail(pair.lookback_h) for w in train]
    out = ensemble.predict(windows, 24, site(40))
    naive, lgbm = (m.predict(windows, 24, site(40)) for m in ensemble.members)
    for f, a, b in zip(out, naive, lgbm, strict=True):
        np.testing.assert_allclose(f.q50, (a.q50 + b.q50) / 2)
        np.testing.assert_allclose(f.q10, (a.q10 + b.q10) / 2)
        assert (f.q10 <= f.q50).all()
        assert (f.q50 <= f.q90).all()


def test_an_ensemble_survives_save_and_load(tmp_path: Path, pair: ForecastSettings) -> None:
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    ensemble = make_forecaster(ModelKind.ENSEMBLE, Target.PV, pair)
    ensemble.fit(train, site(40))
    ensemble.save(tmp_path)
    again = load_forecaster(tmp_path)
    assert isinstance(again, Ensemble)
    assert [m.kind for m in again.members] == [ModelKind.SEASONAL_NAIVE, ModelKind.LIGHTGBM]
    assert again.fitted
    windows = [w.tail(pair.lookback_h) for w in train]
    for x, y in zip(
        ensemble.predict(windows, 24, site(40)), again.predict(windows, 24, site(40)), strict=True
    ):
        np.testing.assert_allclose(x.q50, y.q50)


def test_an_ensemble_cannot_contain_itself() -> None:
    with pytest.raises(ValidationError, match="own member"):
        EnsembleParams(members=[ModelKind.LIGHTGBM, ModelKind.ENSEMBLE])


def test_the_registry_file_round_trips_an_ensemble_with_the_solar_covariate(
    pair: ForecastSettings,
) -> None:
    """The registry stores a model as a tar of its folder: the ensemble's member folders
    and its LightGBM, which reads the clear sky, come back whole."""
    assert pair.lightgbm.solar
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    ensemble = make_forecaster(ModelKind.ENSEMBLE, Target.PV, pair)
    ensemble.fit(train, site(40))
    again = unpack(pack(ensemble))
    windows = [w.tail(pair.lookback_h) for w in train]
    for x, y in zip(
        ensemble.predict(windows, 24, site(40)), again.predict(windows, 24, site(40)), strict=True
    ):
        np.testing.assert_allclose(x.q90, y.q90)


def test_an_adopted_member_is_not_fitted_again_and_forecasts_the_same(
    lean: ForecastSettings,
) -> None:
    """The LightGBM candidate fitted on the same series stands in for the ensemble's own:
    the same seed on the same data gives the same forecasts, one fit instead of two."""
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    windows = [w.tail(lean.lookback_h) for w in train]
    lgbm = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, lean)
    lgbm.fit(train, site(40))
    booster = lgbm.models[0]  # type: ignore[attr-defined]

    adopting = make_forecaster(ModelKind.ENSEMBLE, Target.LOAD, lean)
    assert isinstance(adopting, Ensemble)
    assert adopting.adopt([lgbm]) == [lgbm]
    adopting.fit(train, site(40))
    assert adopting.members[1] is lgbm
    assert lgbm.models[0] is booster  # type: ignore[attr-defined]

    fitting = make_forecaster(ModelKind.ENSEMBLE, Target.LOAD, lean)
    fitting.fit(train, site(40))
    for x, y in zip(
        adopting.predict(windows, 24, site(40)), fitting.predict(windows, 24, site(40)), strict=True
    ):
        np.testing.assert_allclose(x.q10, y.q10)
        np.testing.assert_allclose(x.q50, y.q50)
        np.testing.assert_allclose(x.q90, y.q90)

    # Adopted for one fit only: fitted again on other series, every member is refitted.
    adopting.fit([daily_series(f"t{i}", 40, seed=10 + i) for i in range(2)], site(40))
    assert lgbm.models[0] is not booster  # type: ignore[attr-defined]


def test_only_a_fitted_global_model_of_the_same_target_and_settings_is_adopted(
    lean: ForecastSettings,
) -> None:
    train = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    unfitted = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, lean)
    other_target = make_forecaster(ModelKind.LIGHTGBM, Target.PV, lean)
    other_target.fit(train, site(40))
    changed = lean.model_copy(deep=True)
    changed.lightgbm.n_estimators += 1
    other_settings = make_forecaster(ModelKind.LIGHTGBM, Target.LOAD, changed)
    other_settings.fit(train, site(40))
    naive = make_forecaster(ModelKind.SEASONAL_NAIVE, Target.LOAD, lean)

    ensemble = make_forecaster(ModelKind.ENSEMBLE, Target.LOAD, lean)
    assert isinstance(ensemble, Ensemble)
    assert ensemble.adopt([unfitted, other_target, other_settings, naive]) == []
    ensemble.fit(train, site(40))
    assert all(m is not f for m in ensemble.members for f in (other_target, other_settings))


def test_a_backtest_ensemble_reuses_the_evaluated_lightgbm(lean: ForecastSettings) -> None:
    """The table's ensemble, made of the LightGBM row's model, scores what a fresh one
    would, and its fit time is at least that LightGBM's."""
    series = [daily_series(f"s{i}", 40, seed=i) for i in range(2)]
    plan = Plan(split=START + timedelta(days=30), stride=11, lookback=lean.lookback_h)
    run = functools.partial(evaluate, target=Target.LOAD, series=series, site=site(40), plan=plan)
    lgbm = run(ModelKind.LIGHTGBM, settings=lean)
    reusing = run(ModelKind.ENSEMBLE, settings=lean, reuse=[lgbm])
    fresh = run(ModelKind.ENSEMBLE, settings=lean)
    assert isinstance(reusing.forecaster, Ensemble)
    assert reusing.forecaster.members[1] is lgbm.forecaster
    np.testing.assert_allclose(reusing.forecasts, fresh.forecasts)
    assert reusing.fit_s >= lgbm.fit_s
    with pytest.raises(ValueError, match="another target or plan"):
        evaluate(
            ModelKind.ENSEMBLE,
            Target.PV,
            series,
            site=site(40),
            plan=plan,
            settings=lean,
            reuse=[lgbm],
        )
