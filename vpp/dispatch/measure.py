"""Measured response: what a node delivered, from its telemetry, against what was asked.

A reading's `battery_kw` is the battery's power over the step that ends at the reading
(positive charges); the node splits its steps where a command starts and ends, so the
readings stamped inside (accepted, completed] show the command alone. Deferred load has
no reading of its own: it is estimated as the load before the command minus the load
during it. A `hold` commands 0 kW, so it has no ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import fmean

from vpp.models import Action

# How far before a deferral its baseline load is taken from: the command's own length,
# within these bounds.
BASELINE_MIN = timedelta(seconds=30)
BASELINE_MAX = timedelta(minutes=15)

HOLD_NOTE = "hold commands 0 kW: measured_kw is the battery's mean |kW|"
NO_TELEMETRY = "no telemetry in the command's window (is ingest running for this node?)"


@dataclass(frozen=True, slots=True)
class Sample:
    timestamp: datetime
    battery_kw: float | None
    load_kw: float | None


@dataclass(frozen=True, slots=True)
class Measurement:
    measured_kw: float | None
    ratio: float | None
    note: str | None
    samples: int


def baseline_start(start: datetime, end: datetime) -> datetime:
    return start - min(max(end - start, BASELINE_MIN), BASELINE_MAX)


def measure_response(
    action: Action, kw: float, start: datetime, end: datetime, samples: Sequence[Sample]
) -> Measurement:
    during = [s for s in samples if start < s.timestamp <= end]
    if not during:
        return Measurement(None, None, NO_TELEMETRY, 0)
    if action is Action.DEFER_LOAD:
        return _deferral(kw, start, end, samples, during)
    battery = [s.battery_kw for s in during if s.battery_kw is not None]
    if not battery:
        return Measurement(None, None, "the node's readings carry no battery_kw", len(during))
    if action is Action.HOLD:
        held = round(fmean(abs(b) for b in battery), 3)
        return Measurement(held, None, HOLD_NOTE, len(battery))
    sign = 1.0 if action is Action.CHARGE else -1.0
    delivered = round(fmean(sign * b for b in battery), 3)
    return Measurement(delivered, _ratio(delivered, kw), None, len(battery))


def _deferral(
    kw: float, start: datetime, end: datetime, samples: Sequence[Sample], during: list[Sample]
) -> Measurement:
    since = baseline_start(start, end)
    before = [s.load_kw for s in samples if since <= s.timestamp <= start and s.load_kw is not None]
    load = [s.load_kw for s in during if s.load_kw is not None]
    if not before or not load:
        return Measurement(
            None, None, "no load readings before and during the deferral to compare", len(load)
        )
    deferred = round(fmean(before) - fmean(load), 3)
    note = f"estimated: mean load over {len(before)} readings before minus {len(load)} during"
    return Measurement(deferred, _ratio(deferred, kw), note, len(load))


def _ratio(delivered: float, kw: float) -> float | None:
    return round(delivered / kw, 3) if kw > 0 else None
