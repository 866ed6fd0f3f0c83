"""Recorded histories of the forecast workflows replay with the current code: a change that
would break running workflows (non-determinism) fails here, before it reaches a server.

The histories in `histories/` come from the integration tests
(`VPP_RECORD_HISTORIES=1 pytest tests/integration/test_forecast_workflows.py`); record them
again when a change to a workflow is meant to be incompatible (and version it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from vpp.workflows.forecast import ForecastCycleWorkflow, TrainForecastWorkflow

HISTORIES = Path(__file__).parent / "histories"


@pytest.mark.parametrize("name", ["train_forecast", "forecast_cycle"])
async def test_a_recorded_history_replays(name: str) -> None:
    recorded = WorkflowHistory.from_json(name, (HISTORIES / f"{name}.json").read_text())
    replayer = Replayer(
        workflows=[TrainForecastWorkflow, ForecastCycleWorkflow],
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(recorded, raise_on_replay_failure=True)
    assert result.replay_failure is None
