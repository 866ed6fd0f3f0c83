"""The live feeds' logic without Redis: alert transitions and the times they carry, slow
subscribers, and dispatch progress routed to its own dispatch's subscribers only."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from prometheus_client import CollectorRegistry

from vpp.api.live.alerts import (
    AlertKind,
    Presence,
    frequency_alert,
    newest_reading,
    node_alerts,
    presence,
    replay_alerts,
    restart_alerts,
)
from vpp.api.live.broadcaster import Broadcaster, LiveBatch
from vpp.api.live.progress import ProgressHub
from vpp.api.metrics import ApiMetrics
from vpp.dispatch.models import DispatchProgress, DispatchStatus, StatusCounts
from vpp.models import NodeStatus
from vpp.store.aggregate import FreqStatus
from vpp.store.live_state import RawLiveState, StatusUpdate, epoch_ms, from_epoch_ms

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


def test_node_alerts_are_raised_on_changes_only_at_the_time_that_showed_them() -> None:
    t = epoch_ms(NOW)
    before = {"a": Presence(True, t), "b": Presence(False, t), "c": Presence(True, t)}
    after = {
        "a": Presence(False, t + 30_000),
        "b": Presence(True, t + 45_000),
        "c": Presence(True, t + 5_000),  # still online: a newer reading, no alert
        "d": Presence(False, t),  # first seen: no alert
    }
    alerts = node_alerts(before, after)
    assert [(a.kind, a.dc_id, a.at) for a in alerts] == [
        (AlertKind.NODE_OFFLINE, "a", from_epoch_ms(t + 30_000)),
        (AlertKind.NODE_ONLINE, "b", from_epoch_ms(t + 45_000)),
    ]
    # Every process scanning the same state names the alert alike; a return by the going
    # offline it ends (another process, scanning later, sees a later reading).
    assert alerts[0].id == f"node_offline:a:{t + 30_000}"
    assert alerts[1].id == f"node_online:b:{t}"
    assert alerts[0].message == "a went offline: it disconnected"
    assert alerts[1].message == "b is back online after 45 s offline"
    silent = node_alerts(before, {"a": Presence(False, t + 30_000, silent=True)})
    assert [(a.id, a.message) for a in silent] == [
        (alerts[0].id, "a went offline: its readings stopped")  # the same alert, said why
    ]
    later = node_alerts(before, {"b": Presence(True, t + 47_000)})
    assert [a.id for a in later] == [alerts[1].id]


@pytest.mark.parametrize(
    ("offline_s", "said"),
    [
        (0.009, "under 1 s"),
        (59, "59 s"),
        (60, "1 min"),
        (3_599, "59 min"),
        (3_600, "1 h"),
        (3_900, "1 h 5 min"),
        (86_400, "1 d"),
        (93_600, "1 d 2 h"),
    ],
)
def test_a_return_says_how_long_the_node_was_offline(offline_s: float, said: str) -> None:
    t = epoch_ms(NOW)
    (back,) = node_alerts(
        {"n": Presence(False, t)}, {"n": Presence(True, t + int(offline_s * 1000))}
    )
    assert back.message == f"n is back online after {said} offline"
    assert back.offline_since == NOW


def test_a_restart_raises_what_changed_since_the_stores_last_word() -> None:
    t = epoch_ms(NOW)
    last_known = {"a": Presence(True, t), "b": Presence(False, t), "c": Presence(False, t)}
    now = {
        "a": Presence(False, t + 30_000),  # went offline while no process watched
        "b": Presence(True, t + 45_000),  # came back meanwhile
        "c": Presence(False, t + 60_000),  # still offline (its last will came later)
        "d": Presence(False, t + 5_000),  # never mentioned: was online as far as told
        "e": Presence(True, t),  # never mentioned, online: nothing to say
    }
    alerts, baseline = restart_alerts(last_known, now)
    assert baseline == now
    assert [(a.kind, a.dc_id, a.at) for a in alerts] == [
        (AlertKind.NODE_OFFLINE, "d", from_epoch_ms(t + 5_000)),
        (AlertKind.NODE_OFFLINE, "a", from_epoch_ms(t + 30_000)),
        (AlertKind.NODE_ONLINE, "b", from_epoch_ms(t + 45_000)),
    ]


def test_a_restart_replays_the_status_changes_logged_while_none_watched() -> None:
    t = epoch_ms(NOW)
    last_known = {"a": Presence(True, t), "b": Presence(False, t), "c": Presence(True, t)}
    logged = [
        StatusUpdate("c", NodeStatus.OFFLINE, t - 5_000),  # before the store's last word
        StatusUpdate("a", NodeStatus.OFFLINE, t + 10_000),  # its last will...
        StatusUpdate("b", NodeStatus.OFFLINE, t + 12_000),  # already offline: nothing
        StatusUpdate("a", NodeStatus.ONLINE, t + 20_000),  # ...and its reconnect
        StatusUpdate("d", NodeStatus.OFFLINE, t + 25_000),  # never mentioned: was online
        StatusUpdate("a", NodeStatus.ONLINE, t + 26_000),  # a retained copy: nothing
        StatusUpdate("b", NodeStatus.ONLINE, t + 30_000),  # back, then silent again
        StatusUpdate("d", NodeStatus.ONLINE, t + 40_000),  # back, with nothing sent since
    ]
    now = {
        "a": Presence(True, t + 50_000),  # online, as at the store's last word
        "b": Presence(False, t + 60_000),  # offline again, since 30 s of silence
        "c": Presence(True, t + 50_000),
        "d": Presence(False, t + 35_000),  # its last reading before the will, plus 30 s
    }
    alerts, baseline = restart_alerts(last_known, now, logged)
    assert [(a.kind, a.dc_id, a.at) for a in alerts] == [
        (AlertKind.NODE_OFFLINE, "a", from_epoch_ms(t + 10_000)),
        (AlertKind.NODE_ONLINE, "a", from_epoch_ms(t + 20_000)),
        (AlertKind.NODE_OFFLINE, "d", from_epoch_ms(t + 25_000)),
        (AlertKind.NODE_ONLINE, "b", from_epoch_ms(t + 30_000)),
        (AlertKind.NODE_ONLINE, "d", from_epoch_ms(t + 40_000)),
        (AlertKind.NODE_OFFLINE, "b", from_epoch_ms(t + 60_000)),
    ]
    # The ids a watching process would have given the last will and the reconnect.
    assert alerts[0].id == f"node_offline:a:{t + 10_000}"
    # d said it was back and sent nothing, which Redis cannot tell from Redis not having
    # taken the `online` yet: the next scan, finding d still offline, says so, from when
    # it said it was back (not from before it).
    assert baseline["d"] == Presence(True, t + 40_000)
    again, _ = replay_alerts(baseline, now)
    assert [(a.kind, a.dc_id, a.at) for a in again] == [
        (AlertKind.NODE_OFFLINE, "d", from_epoch_ms(t + 40_000)),
    ]


def test_a_scan_replays_what_was_logged_since_the_scan_before() -> None:
    t = epoch_ms(NOW)
    before = {"a": Presence(True, t), "b": Presence(True, t), "c": Presence(True, t)}
    logged = [
        StatusUpdate("a", NodeStatus.OFFLINE, t + 1_000),  # a's will and its reconnect,
        StatusUpdate("a", NodeStatus.ONLINE, t + 1_200),  # both between two scans
        StatusUpdate("b", NodeStatus.OFFLINE, t + 2_000),  # logged, not in Redis yet
        StatusUpdate("z", NodeStatus.OFFLINE, t + 2_500),  # a node no scan has seen
    ]
    now = {
        "a": Presence(True, t + 4_000),
        "b": Presence(True, t + 1_900),  # its last reading, before the will
        "c": Presence(False, t + 3_000),  # silent: no will, nothing logged
    }
    alerts, baseline = replay_alerts(before, now, logged)
    assert [(a.kind, a.dc_id, a.at) for a in alerts] == [
        (AlertKind.NODE_OFFLINE, "a", from_epoch_ms(t + 1_000)),
        (AlertKind.NODE_ONLINE, "a", from_epoch_ms(t + 1_200)),
        (AlertKind.NODE_OFFLINE, "b", from_epoch_ms(t + 2_000)),
        (AlertKind.NODE_OFFLINE, "c", from_epoch_ms(t + 3_000)),
    ]
    # Once Redis has b's will, the next scan finds nothing new; a late copy of a change
    # already replayed is superseded.
    now["b"] = Presence(False, t + 2_000)
    late = [StatusUpdate("b", NodeStatus.OFFLINE, t + 2_000)]
    assert replay_alerts(baseline, now, late)[0] == []


@pytest.mark.parametrize(
    ("last_seen", "status", "status_at", "expected"),
    [
        (90_000, None, None, Presence(True, 90_000)),  # heard 10 s ago
        # Silent 40 s: offline since 30 s of it, because its readings stopped.
        (60_000, None, None, Presence(False, 90_000, silent=True)),
        (80_000, NodeStatus.OFFLINE, 85_000, Presence(False, 85_000)),  # its last will
        (86_000, NodeStatus.OFFLINE, 85_000, Presence(True, 86_000)),  # read after the will
        (None, NodeStatus.OFFLINE, 70_000, Presence(False, 70_000)),  # a status, no reading
    ],
)
def test_presence_says_since_what_a_node_is_online_or_not(
    last_seen: int | None,
    status: NodeStatus | None,
    status_at: int | None,
    expected: Presence,
) -> None:
    state = RawLiveState(None, last_seen, status, status_at)
    assert presence(state, 100_000, offline_after_s=30.0) == expected


def test_a_frequency_alert_carries_its_newest_readings_time() -> None:
    t1, t2 = "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:03+00:00"
    batch = LiveBatch(
        [
            {"dc_id": "a", "timestamp": t2, "freq": 49.6},
            {"dc_id": "b", "timestamp": t1, "freq": 49.7},
            {"dc_id": "c", "timestamp": "not a time", "freq": 49.7},
        ]
    )
    alert, _ = frequency_alert(FreqStatus.NORMAL, 49.7, newest_reading(batch))
    assert alert is not None
    assert alert.at == datetime.fromisoformat(t2)
    assert alert.id == f"frequency_out_of_band:grid:{epoch_ms(alert.at)}"


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
