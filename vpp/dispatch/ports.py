"""What the dispatch activities need from the outside world, as interfaces.

The activities depend on these protocols only, so the activity module (which workflow
code imports for `execute_activity_method`) pulls in no I/O library. The implementations
are `publisher.MqttCommandPublisher`, `repository.MongoDispatchStore` and
`progress.RedisProgressSink`; the worker's bootstrap wires them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from vpp.dispatch.measure import Sample
from vpp.dispatch.models import (
    DispatchProgress,
    DispatchRecordInput,
    RecordNodesInput,
    RegisteredNode,
)


@dataclass(frozen=True, slots=True)
class OutgoingCommand:
    topic: str
    payload: bytes


class CommandPublisher(Protocol):
    async def publish(self, commands: Sequence[OutgoingCommand]) -> None:
        """Publish at QoS 1 and return once the broker acknowledged every one; raise if
        it could not (the caller retries: commands are idempotent at the node)."""
        ...


class DispatchStore(Protocol):
    async def registered_nodes(self, node_ids: Sequence[str] | None) -> list[RegisteredNode]:
        """The registered nodes among `node_ids` (all of them for None)."""
        ...

    async def save_dispatch(self, record: DispatchRecordInput, now: datetime) -> None: ...

    async def save_nodes(self, record: RecordNodesInput, now: datetime) -> None:
        """Write the nodes' states to `dispatch_log` (one entry per node command, written
        again on each change) and the shard's counts to its `dispatches` document."""
        ...

    async def telemetry(
        self, dc_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Sample]]:
        """Each node's readings with start <= timestamp <= end, oldest first."""
        ...


class ProgressSink(Protocol):
    async def publish(self, progress: DispatchProgress) -> None: ...
