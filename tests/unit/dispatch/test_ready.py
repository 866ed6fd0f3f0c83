"""A process started before its servers waits for them."""

from __future__ import annotations

import pytest

from vpp.dispatch import ready


async def test_an_attempt_is_retried_until_it_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ready, "RETRY_INITIAL_S", 0.001)
    calls = []

    async def attempt() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not yet")

    await ready.until_ready("a server", attempt)
    assert len(calls) == 3
