"""The ensemble: the quantile-wise mean of its members, stored and loaded as one model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from tests.unit.forecast.conftest import daily_series
from tests.unit.forecast.test_models import site
from vpp.ml.forecast.ensemble import Ensemble
from vpp.ml.forecast.models import load_forecaster, make_forecaster
from vpp.ml.forecast.registry import pack, unpack
from vpp.ml.forecast.settings import EnsembleParams, ForecastSettings, ModelKind, Target


@pytest.fixture
def pair(small: ForecastSettings) -> ForecastSettings:
    small.ensemble.members = [ModelKind.SEASONAL_NAIVE, ModelKind.LIGHTGBM]
    return small


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
