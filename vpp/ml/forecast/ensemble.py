"""An ensemble forecaster: the mean, quantile by quantile, of its members' forecasts.

Members are any other kinds (`settings.ensemble.members`); global members are fitted
when the ensemble is, local ones forecast from each window as usual. Averaging the
10/50/90 % quantiles of models that err differently (trees on lagged features, a neural
net on whole windows) cancels part of their errors; the averaged quantiles stay ordered
because each member's are.

A global member already fitted on the very series the ensemble is about to be fitted on
(the candidate of its kind, fitted just before it in a backtest or a training) can be
adopted instead of fitted again: the same seed on the same data fits the same model.

Stored as the ensemble's description plus one sub-folder per member, each in its own
`Forecaster.save` form, so the registry stores and loads it like any other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vpp.ml.forecast.models import (
    FitReport,
    Forecaster,
    Progress,
    QuantileForecast,
    SeriesWindow,
    SiteWindow,
    load_forecaster,
    make_forecaster,
    progress_part,
)
from vpp.ml.forecast.settings import ForecastSettings, ModelKind, Target


class Ensemble(Forecaster):
    kind = ModelKind.ENSEMBLE
    is_global = True

    def __init__(self, target: Target, settings: ForecastSettings) -> None:
        super().__init__(target, settings)
        self.members: list[Forecaster] = [
            make_forecaster(kind, target, settings) for kind in settings.ensemble.members
        ]
        self._adopted: list[Forecaster] = []

    def adopt(self, fitted: Sequence[Forecaster]) -> list[Forecaster]:
        """Take the fitted global forecasters of `fitted` whose kind is a member's (same
        target and settings) as those members, so the next `fit` leaves them as they are;
        returns the ones taken. The caller vouches that they were fitted on the series
        that `fit` will be given."""
        taken = []
        for i, member in enumerate(self.members):
            same = [
                f
                for f in fitted
                if f.kind is member.kind
                and f.is_global
                and f.fitted
                and f.target is self.target
                and f.settings == self.settings
            ]
            if same:
                self.members[i] = same[0]
                taken.append(same[0])
        self._adopted = taken
        return taken

    @property
    def min_history_h(self) -> int:
        return max(m.min_history_h for m in self.members)

    def fit(
        self,
        series: Sequence[SeriesWindow],
        site: SiteWindow | None = None,
        progress: Progress | None = None,
    ) -> FitReport:
        report = FitReport()
        fitting = [m for m in self.members if m.is_global and m not in self._adopted]
        # Adopted once: a later fit (other series) fits every member.
        self._adopted = []
        for i, member in enumerate(fitting):
            part = progress_part(progress, i, len(fitting))
            done = member.fit(series, site, part)
            report.fit_s += done.fit_s
            report.samples = max(report.samples, done.samples)
        self.fitted = True
        return report

    def predict(
        self, windows: Sequence[SeriesWindow], n: int, site: SiteWindow | None = None
    ) -> list[QuantileForecast]:
        self._check(windows, n)
        each = [m.predict(windows, n, site) for m in self.members]
        out = []
        for forecasts in zip(*each, strict=True):
            first = forecasts[0]
            q10, q50, q90 = (
                np.mean([getattr(f, q) for f in forecasts], axis=0) for q in ("q10", "q50", "q90")
            )
            out.append(QuantileForecast(first.series_id, first.start, q10, q50, q90))
        return out

    def params(self) -> dict[str, str | int | float | bool | None]:
        out = super().params()
        for i, member in enumerate(self.members):
            out.update({f"member{i}.{k}": v for k, v in member.params().items()})
        return out

    def save(self, folder: Path) -> None:
        super().save(folder)
        for i, member in enumerate(self.members):
            sub = folder / _member_folder(i)
            sub.mkdir()
            member.save(sub)

    def _restore(self, folder: Path, state: dict[str, Any]) -> None:
        self.members = [
            load_forecaster(folder / _member_folder(i)) for i in range(len(self.members))
        ]
        self.fitted = all(m.fitted for m in self.members)


def _member_folder(i: int) -> str:
    return f"member-{i}"
