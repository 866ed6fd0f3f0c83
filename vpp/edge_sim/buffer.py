"""Store-and-forward: the readings a node has taken but not yet seen acknowledged.

Bounded, in seq order. When full, the *oldest* reading is dropped and counted: after a long
outage the recent readings are worth more to operators and forecasts than the old ones,
and the gap the drop leaves in `seq` tells the ingester exactly what was lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    seq: int
    payload: bytes  # the serialised Telemetry, ready to send


class TelemetryBuffer:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[Reading] = deque()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def append(self, reading: Reading) -> None:
        if self._items and reading.seq <= self._items[-1].seq:
            raise ValueError(f"seq {reading.seq} after {self._items[-1].seq}: out of order")
        self._items.append(reading)
        self._trim()

    def peek(self) -> Reading | None:
        return self._items[0] if self._items else None

    def popleft(self) -> Reading | None:
        return self._items.popleft() if self._items else None

    def requeue(self, readings: Iterable[Reading]) -> None:
        """Put back readings that were sent but not acknowledged. They were taken from the
        front, so they go back in front, oldest first."""
        back = sorted(readings, key=lambda r: r.seq)
        if back and self._items and back[-1].seq >= self._items[0].seq:
            raise ValueError("requeued readings must be older than those still buffered")
        self._items.extendleft(reversed(back))
        self._trim()

    def _trim(self) -> None:
        while len(self._items) > self.capacity:
            self._items.popleft()
            self.dropped += 1
