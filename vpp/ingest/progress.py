"""A count that can be awaited: `await tally.reached(n)` returns once it is n or more.

The ingester keeps one for messages received and one for messages acknowledged, so a
benchmark or a test waits for an event instead of polling or sleeping.
"""

from __future__ import annotations

import asyncio
import heapq


class Tally:
    def __init__(self) -> None:
        self.count = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = 0

    def add(self, n: int = 1) -> None:
        self.count += n
        while self._waiters and self._waiters[0][0] <= self.count:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)

    async def reached(self, target: int) -> None:
        if self.count >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._order += 1
        heapq.heappush(self._waiters, (target, self._order, waiter))
        await waiter
