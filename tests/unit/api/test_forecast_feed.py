"""The forecast feed's fan-out: each series' forecasts to that series' subscribers only,
the newest cycles kept for a subscriber that falls behind, bad messages skipped."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from vpp.api.live.forecasts import ForecastFeed
from vpp.ml.forecast.messages import CycleForecasts, PublishedForecast
from vpp.ml.forecast.settings import Target

ISSUED = datetime(2026, 12, 6, 12, tzinfo=UTC)


def cycle(n: int, series: list[str]) -> bytes:
    return (
        CycleForecasts(
            cycle_id=f"cycle-{n}",
            issued_at=ISSUED + timedelta(minutes=15 * n),
            start=ISSUED + timedelta(hours=1),
            step_minutes=60,
            forecasts=[
                PublishedForecast(
                    series_id=s,
                    target=Target.LOAD,
                    q10=[1.0] * 24,
                    q50=[2.0] * 24,
                    q90=[3.0] * 24,
                    model_name="load_kw-lightgbm",
                    model_version=n,
                )
                for s in series
            ],
        )
        .model_dump_json()
        .encode()
    )


async def test_a_subscriber_gets_its_series_only() -> None:
    feed = ForecastFeed("forecasts")
    with feed.subscribe("home-1") as mine, feed.subscribe("fleet") as fleet:
        feed.on_message("forecasts", cycle(1, ["home-1", "home-2", "fleet"]))
        [view] = await mine.get()
        assert (view.series_id, view.cycle_id, view.model_version) == ("home-1", "cycle-1", 1)
        assert view.start == ISSUED + timedelta(hours=1)
        assert [v.series_id for v in await fleet.get()] == ["fleet"]
        feed.on_message("forecasts", cycle(2, ["home-2"]))
        feed.on_message("forecasts", cycle(3, ["home-1"]))
        assert (await mine.get())[0].cycle_id == "cycle-3"  # cycle 2 had nothing of home-1
        assert feed.subscriber_count == 2
    assert feed.subscriber_count == 0


async def test_a_subscriber_that_falls_behind_keeps_the_newest_cycles() -> None:
    feed = ForecastFeed("forecasts", queue_size=2)
    with feed.subscribe("fleet") as slow:
        for n in range(1, 6):
            feed.on_message("forecasts", cycle(n, ["fleet"]))
        assert [(await slow.get())[0].cycle_id for _ in range(2)] == ["cycle-4", "cycle-5"]
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(slow.get(), 0.05)


async def test_a_message_that_is_not_a_cycle_is_skipped_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = ForecastFeed("forecasts")
    with feed.subscribe("fleet") as queue, caplog.at_level(logging.WARNING):
        feed.on_message("forecasts", b"not json")
        feed.on_message("forecasts", b'{"cycle_id": "c", "forecasts": []}')
        feed.on_message("forecasts", cycle(7, ["fleet"]))
        assert (await queue.get())[0].cycle_id == "cycle-7"
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2
    assert "issued_at" in skipped[1]  # what the second message lacked
