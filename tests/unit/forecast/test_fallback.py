"""A missing or failing model falls back to the seasonal naive, and says so."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from tests.unit.forecast.conftest import daily_series
from vpp.ml.forecast.messages import CandidateResult, ModelRef
from vpp.ml.forecast.models import (
    Forecaster,
    QuantileForecast,
    SeriesWindow,
    SiteWindow,
)
from vpp.ml.forecast.service import forecast_with_fallback
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target
from vpp.workflows.forecast import choose


class Flaky(Forecaster):
    """Forecasts 1.0 everywhere, except for series whose id starts with 'bad'."""

    kind = ModelKind.LIGHTGBM

    def predict(
        self, windows: Sequence[SeriesWindow], n: int, site: SiteWindow | None = None
    ) -> list[QuantileForecast]:
        if any(w.series_id.startswith("bad") for w in windows):
            raise RuntimeError("boom")
        ones = np.ones(n)
        return [QuantileForecast(w.series_id, w.end, ones * 0.5, ones, ones * 1.5) for w in windows]


def test_no_model_means_seasonal_naive_with_the_reason() -> None:
    settings = ForecastSettings()
    windows = [daily_series("a", 10), daily_series("b", 10, seed=1)]
    made = forecast_with_fallback(
        None,
        None,
        "no champion model for pv_kw in the registry",
        windows,
        n=24,
        site=None,
        settings=settings,
        target=Target.PV,
    )
    assert [m.forecast.series_id for m in made] == ["a", "b"]
    for m, w in zip(made, windows, strict=True):
        assert m.kind is ModelKind.SEASONAL_NAIVE
        assert m.model_version is None
        assert m.fallback_reason == "no champion model for pv_kw in the registry"
        np.testing.assert_allclose(m.forecast.q50, w.values[-24:])


def test_a_model_failing_on_one_series_costs_only_that_one() -> None:
    settings = ForecastSettings()
    windows = [daily_series("good", 10), daily_series("bad", 10, seed=1)]
    ref = ModelRef(name="load_kw-lightgbm", version=3)
    made = forecast_with_fallback(
        Flaky(Target.LOAD, settings),
        ref,
        None,
        windows,
        n=24,
        site=None,
        settings=settings,
        target=Target.LOAD,
    )
    good, bad = made
    assert (good.kind, good.model_name, good.model_version, good.fallback_reason) == (
        ModelKind.LIGHTGBM,
        "load_kw-lightgbm",
        3,
        None,
    )
    np.testing.assert_allclose(good.forecast.q50, 1.0)
    assert bad.kind is ModelKind.SEASONAL_NAIVE
    assert bad.fallback_reason == "load_kw-lightgbm v3 failed: boom"


def _candidate(kind: ModelKind, mase: float | None, mae: float) -> CandidateResult:
    return CandidateResult(
        target=Target.LOAD,
        kind=kind,
        name=f"load_kw-{kind.value}",
        version=1,
        mase=mase,
        mae=mae,
        coverage_80=0.8,
        fit_s=1.0,
    )


def test_the_champion_is_the_lowest_mase() -> None:
    results = [
        _candidate(ModelKind.SEASONAL_NAIVE, 1.0, 0.5),
        _candidate(ModelKind.LIGHTGBM, 0.86, 0.43),
        _candidate(ModelKind.TIDE, 0.88, 0.44),
        _candidate(ModelKind.EXP_SMOOTHING, None, 0.1),
    ]
    assert choose(results).kind is ModelKind.LIGHTGBM
    with pytest.raises(ValueError, match="empty"):
        choose([])
