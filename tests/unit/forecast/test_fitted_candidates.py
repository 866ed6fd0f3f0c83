"""What a training keeps for its ensemble to adopt: the ensemble's global members, for one
digest of data and settings, until the ensemble has been trained."""

from __future__ import annotations

import numpy as np

from vpp.ml.forecast.backtest import Evaluation
from vpp.ml.forecast.models import make_forecaster
from vpp.ml.forecast.service import FittedCandidate, FittedCandidates
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target


def _kinds(fitted: FittedCandidates, digest: str) -> list[ModelKind]:
    return [c.full.kind for c in fitted.of(digest)]


def _candidate(kind: ModelKind, settings: ForecastSettings) -> FittedCandidate:
    forecaster = make_forecaster(kind, Target.LOAD, settings)
    holdout = Evaluation(kind, Target.LOAD, [], 1.0, 0.1, 0, forecaster, np.zeros((0, 0, 0, 3)))
    return FittedCandidate(holdout, forecaster, 2.0)


def test_only_the_ensembles_global_members_are_kept_until_it_is_trained() -> None:
    settings = ForecastSettings()
    assert settings.ensemble.members == [ModelKind.SEASONAL_NAIVE, ModelKind.LIGHTGBM]
    fitted = FittedCandidates()
    for kind in (ModelKind.SEASONAL_NAIVE, ModelKind.LIGHTGBM, ModelKind.TIDE):
        fitted.keep("a", kind, _candidate(kind, settings), settings)
    # The naive fits nothing, TiDE is no member: neither is worth holding.
    assert _kinds(fitted, "a") == [ModelKind.LIGHTGBM]
    assert fitted.of("b") == []  # other data or settings: nothing to adopt

    fitted.keep("a", ModelKind.ENSEMBLE, _candidate(ModelKind.ENSEMBLE, settings), settings)
    assert _kinds(fitted, "a") == []


def test_new_data_drops_what_was_kept_for_the_old() -> None:
    settings = ForecastSettings()
    fitted = FittedCandidates()
    fitted.keep("a", ModelKind.LIGHTGBM, _candidate(ModelKind.LIGHTGBM, settings), settings)
    fitted.keep("b", ModelKind.TIDE, _candidate(ModelKind.TIDE, settings), settings)
    assert fitted.of("a") == []
    assert _kinds(fitted, "b") == []  # TiDE is no member of the ensemble
