"""Settings of the forecasting: data, cycle, training and model hyperparameters.

A section of the platform's `Settings` (`settings.forecast`, variables `VPP_FORECAST__...`,
e.g. `VPP_FORECAST__CYCLE_MINUTES=5`). This module imports nothing of the platform but
`vpp.shared_data`, so `vpp.config` can import it.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from vpp.shared_data import CITYLEARN, shared_data_dir

if TYPE_CHECKING:
    from vpp.config import Settings


class ModelKind(StrEnum):
    """The candidate models; every one runs through darts."""

    SEASONAL_NAIVE = "seasonal_naive"  # the baseline every figure is measured against
    EXP_SMOOTHING = "exp_smoothing"  # statistical: Holt-Winters, refit per series and origin
    LIGHTGBM = "lightgbm"  # gradient-boosted trees, global over all series
    TIDE = "tide"  # a small neural model, global over all series
    ENSEMBLE = "ensemble"  # the mean of its members' quantiles (`EnsembleParams`)


class Target(StrEnum):
    """What is forecast, in average kW per hour."""

    LOAD = "load_kw"
    PV = "pv_kw"


PositiveInt = Annotated[int, Field(ge=1)]


class BaselineParams(BaseModel):
    """The baseline b of the global models' residual transform (`vpp.ml.forecast.models`):
    at each hour, the mean of the same hour over the last `days` days with the `trim`
    highest and the `trim` lowest left out. 7 days trimmed by 3 is their median."""

    days: Annotated[int, Field(ge=1, le=28)] = 7
    trim: Annotated[int, Field(ge=0)] = 3

    @model_validator(mode="after")
    def _keeps_a_day(self) -> BaselineParams:
        if 2 * self.trim >= self.days:
            raise ValueError(f"trimming {self.trim} of {self.days} days at each end leaves none")
        return self

    @property
    def label(self) -> str:
        """`days/trim`, e.g. 14/4."""
        return f"{self.days}/{self.trim}"


# A global model fits one darts model per baseline and averages their quantiles.
Baselines = Annotated[list[BaselineParams], Field(min_length=1)]


class LightGBMParams(BaseModel):
    # With one booster per step (`multi_models`), 100 rounds at 0.1 cost half of 200 at
    # 0.05 and scored the same on the validation months.
    n_estimators: PositiveInt = 100
    learning_rate: Annotated[float, Field(gt=0.0)] = 0.1
    num_leaves: PositiveInt = 31
    # At most this many training samples per series (darts keeps the most recent); above a
    # year's 8,760 it keeps all. Fewer bound the fit time but lose the other seasons.
    max_samples_per_ts: PositiveInt = 10_000
    # The site's measured weather of the last `weather_lags_h` hours as past covariates
    # (lagged, never beyond the origin).
    weather: bool = True
    # Three hours: the weather right before the origin (the clearness channel already sums
    # the last day); each further hour adds five features to every booster.
    weather_lags_h: PositiveInt = 3
    # One booster per forecast step (and quantile): each step reads the hours right before
    # the origin. With False one booster serves every step, and darts shifts its lags so
    # that every step sees only the values a full day before it.
    multi_models: bool = True
    # The clear-sky irradiance of the site (`ForecastSettings.site_*`, astronomy only, so
    # known ahead) at every forecast step, as a future covariate, and the measured sky's
    # clearness over the last day. Off: on the validation months it changed nothing
    # measurable (PV MASE 0.962 with, 0.960 without; load 0.808 and 0.808, with the
    # site's clock read in its time zone) at ~40 % more fit time; the baseline b already
    # carries the sun's daily shape.
    solar: bool = False
    # One booster set per baseline, their quantiles averaged: the week's median, the middle
    # six of two weeks and the middle seven of three. Each alone scored load MASE 0.837,
    # 0.819 and 0.816 on the validation months (PV 1.012, 0.991 and 1.009); the three
    # together 0.808 and 0.960 (the fleet 0.823 and 0.973), at three times the fit and
    # predict time. Trimming keeps one odd day (a party, a holiday, a cloudy day) from
    # moving b. Short b's follow a change of weather within a day or two: on the validation
    # months (Feb-Apr) adding yesterday (1/0) and the middle of three days (3/1) took PV from
    # 0.933 to 0.910 (the fleet 0.917 to 0.896), but on the test months (May-Jul, steady
    # summer skies) from 0.831 to 0.848 (0.799 to 0.824), so PV keeps these three; load
    # went from 0.808 to 0.811 adding 3/1 and stayed 0.808 adding 1/0. The residuals'
    # tuning (leaves, min samples, L2, feature fraction, sample weights), weekly lags, 24 h
    # of weather and temperature covariates each moved load by 0.003 or less, and a median
    # from a squared or a Huber loss instead of the quantile loss made it worse (0.870,
    # 0.819); 24 h of weather made PV worse (1.022). Trimming one day more or less (7/2,
    # 14/5, 21/8), or a fourth b of the middle ten of 28 days, moved load by 0.002 or less
    # (0.807, 0.806) and PV by 0.001; the measured weather's departure from the same hours
    # of the week before (temperature and irradiance, past covariates) made both worse
    # (load 0.810, PV 0.956). Also tried on the validation months, none adopted: the
    # residual as log((y + c) / (b + c)) with c a fifth of s (load 0.808, PV 0.994), and
    # averaged with the plain residual's quantiles (load 0.807); the last 24 h's and 6 h's
    # mean over the week before as past covariates (load 0.808, PV 0.936); one booster for
    # every step (`multi_models` off) as a second member (load 0.813, alone 0.829). A b
    # that also reads the hours either side of its hour scored, alone and without a model
    # on it, 0.870 against 0.884 for the week's median but 0.869 against 0.866 for the
    # three b's averaged, so it would not help them either.
    baselines: Baselines = Field(
        default_factory=lambda: [
            BaselineParams(days=7, trim=3),
            BaselineParams(days=14, trim=4),
            BaselineParams(days=21, trim=7),
        ]
    )
    # The targets whose boosters also read each series' day-on-day variability over the
    # four weeks before each hour (a past covariate, `vpp.ml.forecast.models.
    # rolling_variability`): a fleet's load is far smoother than a home's, relative to its
    # level, and without it the trees, taught mostly by homes, gave the fleet a home's
    # interval. On the validation months the fleet's load coverage went from 0.895 to 0.822
    # with one value per series (a static covariate over the whole history, at a MASE of
    # 0.810 instead of 0.808), and the rolling reading, the same in training as when
    # forecasting from four weeks, scored 0.808 (the fleet 0.825, coverage 0.818). PV
    # leaves it out: every home sees the same sky, so the fleet's PV is no smoother than a
    # home's, and with it PV's MASE went from 0.933 to 0.939 with the same coverage. A
    # second such reading, how much yesterday's value has lately beaten the week's median
    # as a forecast (the log of their mean errors' ratio over the four weeks, to tell the
    # homes that repeat their days from those that do not), scored 0.803 against 0.802.
    variability: list[Target] = Field(default_factory=lambda: [Target.LOAD])
    # The targets whose boosters also read b / s at every forecast hour (a future
    # covariate, known at the origin: b and s read values a day or more before each hour).
    # The residual r hides how large the hour's usual value is; with it, a step's booster
    # knows whether its hour is this home's evening peak or its night. On the validation
    # months load's MASE went from 0.808 to 0.802 (the fleet 0.825 to 0.829, coverage 0.797
    # to 0.790) at 1.6 times the fit time; PV's from 0.933 to 0.938, so PV leaves it out.
    # (On the test months: load 0.811 to 0.808, the fleet 0.843 to 0.846.) The spread of
    # b's days at the hour (their standard deviation over s) as a second such covariate
    # scored 0.802 as well, at 2.3 times the fit time. A fourth b of the same hour over the
    # last three weeks' same weekday scored 0.983 alone and nothing with the three. The
    # value a week before each forecast hour over s, as one more such covariate, scored
    # 0.803, the site's temperature a day before each forecast hour 0.805; 150 rounds
    # instead of 100 scored 0.802, 63 leaves instead of 31 0.803, and the middle of the
    # last three days over s at each forecast hour as well 0.802. Nor did the trees' own
    # randomness help: bagging (each tree on 80 % of the rows and of the features) scored
    # 0.802, extremely randomised splits 0.802 (0.8016) at 1.5 times the fit time.
    baseline_shape: list[Target] = Field(default_factory=lambda: [Target.LOAD])


class TiDEParams(BaseModel):
    input_chunk_length: PositiveInt = 168
    baselines: Baselines = Field(default_factory=lambda: [BaselineParams()])
    hidden_size: PositiveInt = 64
    n_epochs: PositiveInt = 3
    batch_size: PositiveInt = 256
    learning_rate: Annotated[float, Field(gt=0.0)] = 1e-3
    weather: bool = True


class EnsembleParams(BaseModel):
    # Averaged quantile by quantile; models that err differently cancel part of each
    # other's error. Chosen on the validation months (fit Aug-Jan, score Feb-Apr): for PV
    # the naive's persistence of yesterday's sky and LightGBM's shrinkage to the week's
    # median scored 0.94 together, 1.00 and 1.04 alone; TiDE added nothing. The validation's
    # best weights (0.6 LightGBM, 0.4 naive: PV 0.902 against LightGBM's 0.933) scored
    # worse on the test months (0.865 against 0.831), and for load LightGBM alone is best:
    # with TiDE (the mean of the two) load scored 0.826 against LightGBM's 0.808.
    members: list[ModelKind] = Field(
        default_factory=lambda: [ModelKind.SEASONAL_NAIVE, ModelKind.LIGHTGBM], min_length=1
    )

    @field_validator("members")
    @classmethod
    def _no_nesting(cls, members: list[ModelKind]) -> list[ModelKind]:
        if ModelKind.ENSEMBLE in members:
            raise ValueError("an ensemble cannot be its own member")
        return members


class ExpSmoothingParams(BaseModel):
    # Each series is refit on its last `fit_window_h` hours at every forecast.
    fit_window_h: PositiveInt = 672
    num_samples: PositiveInt = 200


# The public datasets (`vpp.shared_data`): an absolute default, so every process finds
# them whatever its working directory.
_CITYLEARN_DIR = shared_data_dir() / CITYLEARN


class ForecastSettings(BaseModel):
    data_dir: Path = _CITYLEARN_DIR
    # The cycle: every `cycle_minutes`, the next `horizon_h` hours for every node and the fleet.
    cycle_minutes: Annotated[int, Field(ge=1, le=1440)] = 15
    horizon_h: Annotated[int, Field(ge=1, le=168)] = 24
    # Hours of history read per series to forecast it (lags, refits and naive intervals).
    lookback_h: Annotated[int, Field(ge=192)] = 672
    # Nodes forecast per activity call.
    batch_size: PositiveInt = 50
    # The seasonal-naive baseline's season (hours): MASE is measured against it.
    naive_season_h: PositiveInt = 24
    # History older than this (hours before the forecast's start) is too stale to forecast
    # from; such a node is skipped and reported.
    max_history_gap_h: PositiveInt = 48
    # Training: daily at `train_hour_utc`, on the last `train_days` of history of up to
    # `train_series` nodes (one per building first) plus the fleet; the last `holdout_days`
    # are held out to measure every candidate, and the best (lowest MASE) becomes the
    # champion of its target, refit on the whole window.
    train_hour_utc: Annotated[int, Field(ge=0, le=23)] = 2
    train_days: PositiveInt = 273
    holdout_days: PositiveInt = 14
    train_series: PositiveInt = 17
    selection_stride_h: PositiveInt = 7
    candidates: list[ModelKind] = Field(default_factory=lambda: list(ModelKind))
    targets: list[Target] = Field(default_factory=lambda: list(Target))
    # Forecasts older than this are deleted by the cycle.
    forecast_retention_days: PositiveInt = 7
    # Versions of each model (e.g. load_kw-lightgbm) the registry keeps: training stores
    # one a day, and a LightGBM is about 22 MB gzipped. The champion always stays.
    keep_model_versions: PositiveInt = 7
    # Live clients subscribe to this Redis channel: one message per cycle.
    redis_channel: str = "vpp:forecasts"
    # Threads torch and LightGBM may use (the machine is shared).
    threads: PositiveInt = 1
    # Where the sun is seen from, for the clear-sky covariate and the PV's daylight hours:
    # the CityLearn homes are in Fontana, California (the data README). Their hours are
    # Fontana's wall clock, daylight saving included, stamped as if UTC and an hour behind
    # the sun (`vpp.ml.forecast.solar`); a history in true UTC says "UTC" and 0.
    site_latitude_deg: Annotated[float, Field(ge=-90.0, le=90.0)] = 34.09
    site_longitude_deg: Annotated[float, Field(ge=-180.0, le=180.0)] = -117.43
    site_clock: str = "America/Los_Angeles"
    site_clock_lag_h: Annotated[float, Field(ge=-24.0, le=24.0)] = 1.0
    # PV's baseline b (of the global models) scales each past day by the clear sky's change
    # since, so it follows the days' lengthening and shortening. On the validation months
    # (Feb-Apr, when days grow fastest) LightGBM's PV MASE went from 0.960 to 0.933 over
    # the homes and from 0.973 to 0.917 for the fleet, its coverage from 0.68 to 0.72. On
    # the test months around midsummer it changes little (homes 0.826 to 0.831, the
    # fleet 0.801 to 0.799): the days barely change length then. Every home sees the
    # fleet's sky, yet forecasting a home's PV as the fleet's times the home's share of the
    # fleet's same hours over the last 7 days scored 0.966 on the validation months, and
    # half and half with the home's own 0.935, against its own 0.933: a home's panels
    # (orientation, shade) do not follow the fleet's closely enough.
    pv_sun_baseline: bool = True
    seed: int = 7
    exp_smoothing: ExpSmoothingParams = ExpSmoothingParams()
    lightgbm: LightGBMParams = LightGBMParams()
    tide: TiDEParams = TiDEParams()
    ensemble: EnsembleParams = EnsembleParams()

    @field_validator("site_clock")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. UTC)") from e
        return name

    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def fresh_for(self) -> timedelta:
        """How long a forecast stays current: two cycles, so one late or failed cycle does
        not age it. A node the cycles stopped forecasting (no history for
        `max_history_gap_h`) keeps its last forecast, which is stale past this."""
        return timedelta(minutes=2 * self.cycle_minutes)


def forecast_settings(settings: Settings) -> ForecastSettings:
    """`settings.forecast`, or the defaults until that section is part of `Settings`."""
    section = getattr(settings, "forecast", None)
    return section if isinstance(section, ForecastSettings) else ForecastSettings()
