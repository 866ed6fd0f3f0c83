from __future__ import annotations

import orjson
import pytest

from vpp.models import NodeStatus
from vpp.store.aggregate import FreqStatus, compute_aggregate, freq_status
from vpp.store.live_state import RawLiveState, is_online

NOW_MS = 1_790_000_000_000


@pytest.mark.parametrize(
    ("freq", "status"),
    [
        (50.0, FreqStatus.NORMAL),
        (50.1, FreqStatus.NORMAL),  # the band's edge, despite binary floating point
        (49.9, FreqStatus.NORMAL),
        (50.1001, FreqStatus.WARNING),
        (49.85, FreqStatus.WARNING),
        (50.2, FreqStatus.WARNING),
        (49.8, FreqStatus.WARNING),
        (50.2001, FreqStatus.CRITICAL),
        (49.5, FreqStatus.CRITICAL),
        (None, FreqStatus.UNKNOWN),
    ],
)
def test_frequency_bands(freq: float | None, status: FreqStatus) -> None:
    assert freq_status(freq) is status


def state(
    power: float,
    soc: float,
    freq: float,
    seen_ago_s: float,
    *,
    status: NodeStatus | None = None,
    status_ago_s: float = 0.0,
) -> RawLiveState:
    return RawLiveState(
        latest_json=orjson.dumps({"power_kw": power, "soc": soc, "freq": freq}),
        last_seen_ms=NOW_MS - int(seen_ago_s * 1000),
        status=status,
        status_at_ms=NOW_MS - int(status_ago_s * 1000) if status else None,
    )


def test_aggregate_counts_only_online_nodes() -> None:
    states = {
        "a": state(10.0, 50.0, 50.05, seen_ago_s=1),
        "b": state(-4.0, 70.0, 49.95, seen_ago_s=5),
        "c": state(100.0, 10.0, 48.0, seen_ago_s=31),  # silent too long
        "d": state(100.0, 10.0, 48.0, seen_ago_s=2, status=NodeStatus.OFFLINE, status_ago_s=1),
    }
    result = compute_aggregate(states, NOW_MS, offline_after_s=30)
    assert result.node_count == 4
    assert result.online_nodes == 2
    assert result.total_power_kw == pytest.approx(6.0)
    assert result.avg_soc == pytest.approx(60.0)
    assert result.avg_freq == pytest.approx(50.0)
    assert result.freq_status is FreqStatus.NORMAL


@pytest.mark.parametrize(
    "latest",
    [b"not json", b"[1, 2]", b'{"power_w": 3.0, "soc": 50, "freq": 50}', b'{"power_kw": "x"}'],
)
def test_a_latest_reading_no_ingester_wrote_is_left_out_not_fatal(latest: bytes) -> None:
    """A value of another writer (or of another version's ingest) in Redis: the node
    counts as online, its figures are left out, and the fleet's aggregate stands."""
    odd = RawLiveState(latest_json=latest, last_seen_ms=NOW_MS, status=None, status_at_ms=None)
    states = {"a": state(10.0, 50.0, 50.0, seen_ago_s=1), "odd": odd}
    result = compute_aggregate(states, NOW_MS, offline_after_s=30)
    assert (result.node_count, result.online_nodes) == (2, 2)
    assert (result.total_power_kw, result.avg_soc, result.avg_freq) == (10.0, 50.0, 50.0)


def test_aggregate_of_nothing_online_is_unknown() -> None:
    result = compute_aggregate({"a": state(1, 1, 50, seen_ago_s=60)}, NOW_MS, offline_after_s=30)
    assert (result.node_count, result.online_nodes, result.total_power_kw) == (1, 0, 0.0)
    assert result.avg_soc is None
    assert result.avg_freq is None
    assert result.freq_status is FreqStatus.UNKNOWN


def test_a_reading_after_an_offline_status_means_online_again() -> None:
    back = state(1, 1, 50, seen_ago_s=1, status=NodeStatus.OFFLINE, status_ago_s=10)
    assert is_online(back, NOW_MS, offline_after_s=30)
    gone = state(1, 1, 50, seen_ago_s=10, status=NodeStatus.OFFLINE, status_ago_s=1)
    assert not is_online(gone, NOW_MS, offline_after_s=30)
    never = RawLiveState(
        latest_json=None, last_seen_ms=None, status=NodeStatus.ONLINE, status_at_ms=NOW_MS
    )
    assert not is_online(never, NOW_MS, offline_after_s=30)
