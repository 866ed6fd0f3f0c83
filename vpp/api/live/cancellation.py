"""Stopping a polling loop even when a client library swallowed the stop.

`Task.cancel()` throws CancelledError in at whatever await the task resumes next. When that
await is inside redis-py, the library can catch it and return normally: the alert
monitor's node scan then went on scanning, cancelled but running, until uvicorn gave up on
the shutdown after 15 s (one run in about ten of the automation and optimise-cycle tests).
The task still counts the request (`Task.cancelling()`), so a loop that asks between its
rounds stops at the next one.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError in a task whose cancellation was requested, even if the
    exception itself was caught somewhere below."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
