"""A polling loop stops when cancelled, even if the call it awaited swallowed the
cancellation (as redis-py's did, once in about ten shutdowns). The swallowing call is a
stand-in: the race inside the library cannot be produced on demand."""

from __future__ import annotations

import asyncio
import contextlib

from vpp.api.live.cancellation import raise_if_cancelled


async def _swallowing_call() -> None:
    """Returns normally when cancelled, as the library did."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0.05)


async def _poll(rounds: list[int], ask: bool) -> None:
    while True:
        await _swallowing_call()
        rounds.append(1)
        if ask:
            raise_if_cancelled()
        await asyncio.sleep(0.01)


async def _stop(task: asyncio.Task[None]) -> None:
    """Cancel until it ends: a request swallowed starts the loop's 10 ms sleep at once,
    and the next one lands in it."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.005)


async def test_a_loop_that_asks_stops_after_a_swallowed_cancel() -> None:
    rounds: list[int] = []
    task = asyncio.create_task(_poll(rounds, ask=True))
    try:
        await asyncio.sleep(0.02)  # inside the first call
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
        assert task.cancelled()
        assert len(rounds) == 1  # the round under way ends, no other starts
    finally:
        await _stop(task)


async def test_without_asking_the_loop_would_run_on() -> None:
    """What the loops were before: cancelled, and still polling half a second later."""
    rounds: list[int] = []
    task = asyncio.create_task(_poll(rounds, ask=False))
    await asyncio.sleep(0.02)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.5)
    assert not done
    assert task.cancelling() == 1
    assert len(rounds) > 1
    await _stop(task)
    assert task.cancelled()


async def test_in_a_task_not_cancelled_it_does_nothing() -> None:
    raise_if_cancelled()
