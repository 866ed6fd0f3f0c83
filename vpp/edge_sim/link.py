"""What a node needs from its way out of the process, whichever it is (MQTT or HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from vpp.edge_sim.buffer import Reading, TelemetryBuffer
from vpp.models import Ack

# Called with each command payload that arrives for the node.
CommandHandler = Callable[[bytes], None]


@dataclass
class LinkStats:
    sent: int = 0  # readings whose delivery was confirmed (PUBACK or HTTP 2xx)
    refused: int = 0  # readings the HTTP endpoint refused for good (4xx)
    resent: int = 0  # readings sent again: their session was lost or left before the PUBACK
    acks_sent: int = 0
    acks_dropped: int = 0  # by an injected fault
    connects: int = 0
    disconnects: int = 0


class NodeLink(Protocol):
    node_id: str
    buffer: TelemetryBuffer
    stats: LinkStats

    @property
    def connected(self) -> bool: ...

    @property
    def pending(self) -> int:
        """Readings and acks not yet confirmed delivered."""
        ...

    def submit(self, reading: Reading) -> None: ...

    def send_ack(self, ack: Ack) -> None: ...

    def drop_next_acks(self, count: int) -> None: ...

    @property
    def acks_to_drop(self) -> int: ...

    def start(self) -> None: ...

    def set_online(self, online: bool) -> None:
        """Fault injection: leave the broker (buffering meanwhile) or come back."""
        ...

    @property
    def online_wanted(self) -> bool: ...

    async def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is pending; False if that took longer than `timeout_s`."""
        ...

    async def stop(self) -> None: ...
