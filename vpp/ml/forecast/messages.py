"""What the forecast workflows and activities pass each other: one input model per
workflow and activity (fields can be added without breaking running workflows).

Plain pydantic models, light to import (the workflow sandbox re-imports nothing of them).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from vpp.ml.forecast.settings import ModelKind, Target

# -- training --------------------------------------------------------------------------------


class TrainForecastInput(BaseModel):
    """Everything optional: unset fields come from the worker's `ForecastSettings`."""

    targets: list[Target] | None = None
    candidates: list[ModelKind] | None = None
    train_days: int | None = Field(default=None, ge=2)
    holdout_days: int | None = Field(default=None, ge=1)
    # Train on these nodes; by default on the first `train_series` nodes with history.
    node_ids: list[str] | None = None
    # The end of the training data (exclusive, a whole hour); default: the current hour.
    end: AwareDatetime | None = None


class PrepareTrainingInput(BaseModel):
    end: AwareDatetime
    targets: list[Target] | None = None
    candidates: list[ModelKind] | None = None
    train_days: int | None = None
    holdout_days: int | None = None
    node_ids: list[str] | None = None


class TrainingPlan(BaseModel):
    """What to train on: the input's choices, the worker's settings for the rest."""

    targets: list[Target]
    candidates: list[ModelKind]
    node_ids: list[str]
    start: AwareDatetime
    holdout_start: AwareDatetime
    end: AwareDatetime


class TrainCandidateInput(BaseModel):
    plan: TrainingPlan
    target: Target
    kind: ModelKind


class CandidateResult(BaseModel):
    target: Target
    kind: ModelKind
    name: str
    version: int
    mase: float | None  # None when the naive made no error on the holdout
    mae: float
    coverage_80: float
    fit_s: float  # adopted members' fits included
    # The members an ensemble took from the candidates trained before it, not fitting them.
    adopted: list[ModelKind] = Field(default_factory=list)


class PromoteInput(BaseModel):
    name: str
    version: int


class TargetChoice(BaseModel):
    target: Target
    champion: CandidateResult
    candidates: list[CandidateResult]
    # Candidates that could not be trained, and why (the others still compete).
    failed: dict[ModelKind, str] = Field(default_factory=dict)


class TrainForecastResult(BaseModel):
    plan: TrainingPlan
    choices: list[TargetChoice]
    # Whether the forecast cycle's schedule was made to run at once with the new champions.
    cycle_started: bool = False


# -- the cycle -------------------------------------------------------------------------------


class ForecastCycleInput(BaseModel):
    """Everything optional: a scheduled cycle forecasts every node with history, now."""

    issued_at: AwareDatetime | None = None
    node_ids: list[str] | None = None
    # Nodes forecast per activity.
    batch_size: int = Field(default=50, ge=1)


class SyncHistoryInput(BaseModel):
    until: AwareDatetime


class SyncHistoryResult(BaseModel):
    telemetry_hours: int
    site_hours: int
    forecasts_pruned: int = 0


class PlanCycleInput(BaseModel):
    origin: AwareDatetime
    node_ids: list[str] | None = None


class ModelRef(BaseModel):
    name: str
    version: int


class CyclePlan(BaseModel):
    node_ids: list[str]
    # The champion of each target, fixed for the whole cycle; None: none is registered.
    models: dict[Target, ModelRef | None]


class ForecastBatchInput(BaseModel):
    cycle_id: str
    issued_at: AwareDatetime
    origin: AwareDatetime  # the first forecast hour; history ends here
    node_ids: list[str]
    models: dict[Target, ModelRef | None]
    # True: forecast the sum of `node_ids` as the series "fleet".
    fleet: bool = False


class SeriesOutcome(BaseModel):
    series_id: str
    target: Target
    model: str
    fallback_reason: str | None = None


class ForecastBatchResult(BaseModel):
    written: int
    fallbacks: list[SeriesOutcome]
    skipped: dict[str, str]  # series id -> why it has no forecast


class PublishInput(BaseModel):
    cycle_id: str


class PublishedForecast(BaseModel):
    """One stored forecast as the live channel carries it."""

    series_id: str
    target: Target
    q10: list[float]
    q50: list[float]
    q90: list[float]
    model_name: str
    model_version: int | None = None
    fallback: bool = False
    fallback_reason: str | None = None
    nodes: int | None = None  # the fleet's: how many nodes it sums


class CycleForecasts(BaseModel):
    """The live channel's message: every forecast one cycle stored, all from one origin."""

    cycle_id: str
    issued_at: AwareDatetime
    start: AwareDatetime
    step_minutes: int = Field(ge=1)
    forecasts: list[PublishedForecast]


class PublishResult(BaseModel):
    channel: str
    forecasts: int
    subscribers: int


class ForecastCycleResult(BaseModel):
    cycle_id: str
    origin: AwareDatetime
    nodes: int
    written: int
    fallbacks: list[SeriesOutcome]
    skipped: dict[str, str]
    models: dict[Target, ModelRef | None]
    sync: SyncHistoryResult
    published_to: int
