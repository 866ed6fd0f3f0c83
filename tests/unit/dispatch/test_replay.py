"""Recorded histories of a real dispatch (a parent and its shard, with a resend) replayed
against today's workflow code: any nondeterministic change fails here first.

Re-record after a deliberate, versioned change of the workflows:
`VPP_RECORD_DISPATCH_HISTORY=tests/unit/dispatch/histories pytest
tests/integration/dispatch/test_dispatch_workflow.py -k replay`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from vpp.workflows.dispatch import IO_WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


@pytest.mark.parametrize("name", ["dispatch", "shard"])
async def test_a_recorded_history_replays(name: str) -> None:
    text = (HISTORIES / f"{name}_history.json").read_text()
    history = WorkflowHistory.from_json(f"dispatch-recorded-{name}", text)
    replayer = Replayer(workflows=IO_WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
