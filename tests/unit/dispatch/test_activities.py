"""The activities alone, with fake clients, in Temporal's `ActivityEnvironment`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.unit.dispatch.conftest import at
from vpp.activities.dispatch import DISPATCH_REFUSED, DispatchActivities
from vpp.dispatch.measure import NO_TELEMETRY, Sample
from vpp.dispatch.models import (
    DispatchProgress,
    DispatchRecordInput,
    DispatchSpec,
    MeasureInput,
    MeasureTarget,
    NodeCommand,
    NodeStatus,
    RecordNodesInput,
    RegisteredNode,
    ResolveInput,
    SendInput,
    StatusCounts,
)
from vpp.dispatch.ports import OutgoingCommand
from vpp.models import Action, CommandParams, NodeKind


class Fakes:
    """Publisher, store and progress sink in one, recording calls in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.published: list[OutgoingCommand] = []
        self.saved_nodes: list[RecordNodesInput] = []
        self.progress: list[DispatchProgress] = []
        self.samples: dict[str, list[Sample]] = {}

    async def publish(self, item: Sequence[OutgoingCommand] | DispatchProgress) -> None:
        if isinstance(item, DispatchProgress):
            self.calls.append("progress")
            self.progress.append(item)
        else:
            self.calls.append("publish")
            self.published.extend(item)

    async def registered_nodes(self, node_ids: Sequence[str] | None) -> list[RegisteredNode]:
        return [RegisteredNode(dc_id="dc-1", kind=NodeKind.EDGE_DC, capacity_kw=100.0)]

    async def save_dispatch(self, record: DispatchRecordInput, now: datetime) -> None:
        self.calls.append("save_dispatch")

    async def save_nodes(self, record: RecordNodesInput, now: datetime) -> None:
        self.calls.append("save_nodes")
        self.saved_nodes.append(record)

    async def telemetry(
        self, dc_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Sample]]:
        return self.samples


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def activities(fakes: Fakes) -> DispatchActivities:
    return DispatchActivities(fakes, fakes, fakes, topic_prefix="vpp/v1", clock=lambda: at(100))


async def test_an_impossible_request_fails_the_activity_for_good(
    activities: DispatchActivities,
) -> None:
    inp = ResolveInput(targets=["dc-1", "ghost"], action=Action.CHARGE, params=CommandParams(kw=5))
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(activities.resolve_targets, inp)
    assert (refused.value.type, refused.value.non_retryable) == (DISPATCH_REFUSED, True)
    assert refused.value.details == (["ghost: unknown node"],)


async def test_commands_go_to_each_nodes_topic_with_their_routable_id(
    activities: DispatchActivities, fakes: Fakes, spec: DispatchSpec
) -> None:
    result = await ActivityEnvironment().run(
        activities.send_commands, SendInput(spec=spec, shard=2, node_ids=["n1", "n2"])
    )
    assert result.sent == ["n1", "n2"]
    assert [c.topic for c in fakes.published] == ["vpp/v1/nodes/n1/cmd", "vpp/v1/nodes/n2/cmd"]
    command = orjson.loads(fakes.published[0].payload)
    assert command["command_id"] == "d1:2:n1"
    assert (command["dispatch_id"], command["action"]) == ("d1", "charge")
    assert command["params"] == {"kw": 5.0, "duration_s": 10}
    assert command["expires_at"].startswith("2026-06-21T12:00:30")


async def test_node_changes_are_stored_and_published_by_separate_activities(
    activities: DispatchActivities, fakes: Fakes, spec: DispatchSpec
) -> None:
    node = NodeCommand(
        dc_id="n1", status=NodeStatus.ACCEPTED, attempts=1, sent_at=at(0.1), accepted_at=at(0.4)
    )
    record = RecordNodesInput(spec=spec, shard=0, nodes=[node], counts=StatusCounts(accepted=1))
    await ActivityEnvironment().run(activities.record_nodes, record)
    assert fakes.calls == ["save_nodes"]
    progress = DispatchProgress(dispatch_id="d1", at=at(1), counts=StatusCounts(accepted=1))
    await ActivityEnvironment().run(activities.publish_progress, progress)
    assert (fakes.calls, fakes.progress) == (["save_nodes", "progress"], [progress])


async def test_completed_nodes_are_measured_against_their_telemetry(
    activities: DispatchActivities, fakes: Fakes, spec: DispatchSpec
) -> None:
    fakes.samples = {"n1": [Sample(at(1), 5.0, None), Sample(at(2), 4.0, None)]}
    targets = [
        MeasureTarget(dc_id="n1", command_id="d1:0:n1", start=at(0), end=at(10)),
        MeasureTarget(dc_id="n2", command_id="d1:0:n2", start=at(0), end=at(10)),
    ]
    # The clock says 100 s: the window is long over, so nothing is waited for.
    result = await ActivityEnvironment().run(
        activities.measure_responses, MeasureInput(spec=spec, nodes=targets, settle_s=0.0)
    )
    n1, n2 = result.nodes
    assert (n1.dc_id, n1.measured_kw, n1.ratio, n1.samples) == ("n1", 4.5, 0.9, 2)
    assert (n2.dc_id, n2.ratio, n2.note) == ("n2", None, NO_TELEMETRY)
