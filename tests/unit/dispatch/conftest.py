"""Shared pieces of the dispatch's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vpp.dispatch.models import DispatchSpec, DispatchTiming
from vpp.models import Action, CommandParams

T0 = datetime(2026, 6, 21, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def spec() -> DispatchSpec:
    return DispatchSpec(
        dispatch_id="d1",
        action=Action.CHARGE,
        params=CommandParams(kw=5.0, duration_s=10),
        issued_by="alice",
        created_at=T0,
        deadline=at(30),
    )


@pytest.fixture
def timing() -> DispatchTiming:
    return DispatchTiming(
        resend_initial_s=1.0, resend_max_s=8.0, completion_slack_s=2.0, completion_grace_s=20.0
    )
