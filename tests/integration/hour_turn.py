"""Tests that take the current hour and then ask a server about "now" (the envelope, the
accuracy of the last day, an optimisation cycle's recent history) agree with it only if
the hour does not turn in between."""

from __future__ import annotations

import asyncio
import time

HOUR_S = 3_600


async def clear_of_the_hour_turn(margin_s: float) -> None:
    """Return at once, unless the hour turns within `margin_s`: then just after it."""
    left = HOUR_S - time.time() % HOUR_S
    if left < margin_s:
        await asyncio.sleep(left + 0.5)
