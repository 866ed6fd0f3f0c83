"""Hourly history as day documents, and filling its gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vpp.ml.forecast import history
from vpp.ml.forecast.history import day_documents, fill_gaps


def test_hours_are_cut_into_utc_days_with_none_outside() -> None:
    start = datetime(2026, 3, 1, 22, tzinfo=UTC)
    values = np.arange(5.0)  # 22:00, 23:00, then 00:00-02:00 the next day
    docs = day_documents("node-00001", start, {"load_kw": values}, "citylearn")
    assert [d["day"] for d in docs] == [
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    ]
    first, second = (d["channels"]["load_kw"] for d in docs)
    assert first[:22] == [None] * 22
    assert first[22:] == [0.0, 1.0]
    assert second[:3] == [2.0, 3.0, 4.0]
    assert second[3:] == [None] * 21


def test_start_must_be_a_whole_hour() -> None:
    with pytest.raises(ValueError, match="whole hour"):
        day_documents("n", datetime(2026, 3, 1, 22, 30, tzinfo=UTC), {"x": np.zeros(2)}, "s")


def test_gaps_are_filled_from_the_day_before_then_linearly() -> None:
    values = np.tile(np.arange(24.0), 3)
    values[30] = np.nan  # yesterday's hour 6 exists
    values[0:2] = np.nan  # no day before: the day after
    filled, count = fill_gaps(values)
    assert count == 3
    assert filled[30] == 6.0
    assert filled[0] == 0.0
    assert filled[1] == 1.0
    short = np.array([1.0, np.nan, 3.0])
    np.testing.assert_allclose(fill_gaps(short)[0], [1.0, 2.0, 3.0])
    assert np.isnan(fill_gaps(np.full(4, np.nan))[0]).all()


def test_a_day_document_rounds_but_keeps_values() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    docs = day_documents("n", start, {"pv_kw": np.full(24, 1.23456789)}, "s")
    assert docs[0]["channels"]["pv_kw"][0] == 1.23457
    assert start + timedelta(days=1) not in [d["day"] for d in docs]


async def test_a_node_with_too_little_history_is_skipped_not_invented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vpp.ml.forecast import service
    from vpp.ml.forecast.settings import Target

    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(hours=100)
    values = np.full(100, np.nan)
    values[-5:] = 1.0  # five hours of telemetry
    enough = np.ones(100)

    async def fake_read(*_: object) -> dict[str, dict[str, np.ndarray]]:
        return {"new": {"load_kw": values}, "old": {"load_kw": enough}}

    monkeypatch.setattr(history, "read_series", fake_read)
    hist = await service.read_histories(
        None, ["new", "old"], [Target.LOAD], start=start, end=end, max_gap_h=48
    )
    assert hist.skipped == {"new/load_kw": "only 5 h of load_kw history"}
    assert list(hist.windows[Target.LOAD]) == ["old"]
