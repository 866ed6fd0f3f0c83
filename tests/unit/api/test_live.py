"""The live feeds' logic without Redis: alert transitions, slow subscribers, and dispatch
progress routed to its own dispatch's subscribers only."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from prometheus_client import CollectorRegistry

from vpp.api.live.alerts import AlertKind, frequency_alert, node_alerts
from vpp.api.live.broadcaster import Broadcaster
from vpp.api.live.progress import ProgressHub
from vpp.api.metrics import ApiMetrics
from vpp.dispatch.models import DispatchProgress, DispatchStatus, StatusCounts
from vpp.store.aggregate import FreqStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("band", "freq", "kind", "new_band"),
    [
        (FreqStatus.NORMAL, 50.05, None, FreqStatus.NORMAL),
        (FreqStatus.NORMAL, 49.85, AlertKind.FREQUENCY_OUT_OF_BAND, FreqStatus.WARNING),
        (FreqStatus.NORMAL, 49.70, AlertKind.FREQUENCY_OUT_OF_BAND, FreqStatus.CRITICAL),
        (FreqStatus.WARNING, 49.70, AlertKind.FREQUENCY_OUT_OF_BAND, FreqStatus.CRITICAL),
        (FreqStatus.CRITICAL, 49.85, None, FreqStatus.WARNING),  # easing: no new alert
        (FreqStatus.CRITICAL, 50.00, AlertKind.FREQUENCY_RESTORED, FreqStatus.NORMAL),
        (FreqStatus.WARNING, 50.10, AlertKind.FREQUENCY_RESTORED, FreqStatus.NORMAL),
    ],
)
def test_frequency_alerts_follow_the_bands(
    band: FreqStatus, freq: float, kind: AlertKind | None, new_band: FreqStatus
) -> None:
    alert, after = frequency_alert(band, freq, NOW)
    assert (alert.kind if alert else None, after) == (kind, new_band)
    if alert is not None:
        assert alert.dc_id is None  # the grid's, not a node's


def test_node_alerts_are_raised_on_changes_only() -> None:
    before = {"a": True, "b": False, "c": True}
    after = {"a": False, "b": True, "c": True, "d": False}  # d: first seen, no alert
    alerts = node_alerts(before, after, NOW)
    assert [(a.kind, a.dc_id) for a in alerts] == [
        (AlertKind.NODE_OFFLINE, "a"),
        (AlertKind.NODE_ONLINE, "b"),
    ]


async def test_a_slow_subscriber_loses_its_oldest_batches_and_is_counted() -> None:
    metrics = ApiMetrics(CollectorRegistry())
    broadcaster = Broadcaster("live", metrics, queue_size=2)
    with broadcaster.subscribe() as slow:
        for seq in range(3):
            reading = {"dc_id": "n1", "seq": seq}
            broadcaster.publish_local(orjson.dumps([reading]))
        assert [(await slow.get()).readings[0]["seq"] for _ in range(2)] == [1, 2]
    assert metrics.live_dropped._value.get() == 1
    assert broadcaster.subscriber_count == 0


async def test_progress_reaches_the_subscribers_of_its_dispatch_only() -> None:
    hub = ProgressHub("vpp")
    progress = DispatchProgress(
        dispatch_id="abc", at=NOW, status=DispatchStatus.RUNNING, counts=StatusCounts()
    )
    with hub.subscribe("abc") as mine, hub.subscribe("other") as other:
        hub.on_message("vpp:dispatch:abc:progress", progress.model_dump_json().encode())
        hub.on_message("vpp:dispatch:abc:progress", b"not json")  # skipped, no crash
        hub.on_message("elsewhere", progress.model_dump_json().encode())
        assert (await mine.get()).status is DispatchStatus.RUNNING
        assert other._queue.empty()
