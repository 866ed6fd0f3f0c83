"""Which status changes ingest logs: the status messages that change what it knew of the
node, and the silences between a node's readings."""

from __future__ import annotations

from vpp.models import NodeStatus
from vpp.store.live_state import Heard, LiveReading, StatusUpdate
from vpp.store.status_log import change_id, changes, silences

ON, OFF = NodeStatus.ONLINE, NodeStatus.OFFLINE


def test_only_changes_are_logged_each_against_the_one_before_it() -> None:
    known = {"a": ON, "b": OFF, "c": None}
    updates = [
        StatusUpdate("a", ON, 1),  # a retained copy delivered again: nothing new
        StatusUpdate("b", ON, 2),  # back
        StatusUpdate("c", OFF, 3),  # nothing known of it before
        StatusUpdate("b", OFF, 4),  # gone again, in the same batch
        StatusUpdate("b", OFF, 5),  # and its will once more
        StatusUpdate("d", ON, 6),  # not even asked about
    ]
    assert [(u.dc_id, u.status, u.at_ms) for u in changes(known, updates)] == [
        ("b", ON, 2),
        ("c", OFF, 3),
        ("b", OFF, 4),
        ("d", ON, 6),
    ]


def test_a_change_is_named_by_node_status_and_time() -> None:
    assert change_id(StatusUpdate("n-1", OFF, 1_700_000_000_123)) == "n-1:offline:1700000000123"


def _readings(*stamps: tuple[str, int]) -> list[LiveReading]:
    return [LiveReading(node, ts, b"{}") for node, ts in stamps]


def test_a_gap_longer_than_the_silence_by_both_clocks_is_an_offline_and_an_online() -> None:
    # Each node last stamped a reading at 100 s, received at 100.5 s; this batch arrives
    # at 140 s: 39.5 s later by ingest's clock.
    heard = {n: Heard(100_000, 100_500) for n in ("a", "b", "c")}
    batch = _readings(
        ("a", 130_001),  # 30.001 s after its last: silent from 130 s to here
        ("b", 130_000),  # exactly the silence: still online
        ("c", 104_000),  # stamped as the next reading (it was held up on its way)
        ("new", 999_000),  # first ever: nothing before it to be silent after
    )
    assert silences(heard, batch, 140_000, offline_after_s=30.0) == [
        StatusUpdate("a", OFF, 130_000, silent=True),
        StatusUpdate("a", ON, 130_001),
    ]


def test_the_first_new_reading_of_a_batch_ends_the_silence_and_replays_end_nothing() -> None:
    heard = {"a": Heard(100_000, 100_000)}
    # Out of order within the batch; 50 s is a replay of an old reading. The silence ends
    # at the first reading after 100 s, and the readings that came with it end nothing
    # more, though stamped far apart: they arrived together.
    batch = _readings(("a", 300_000), ("a", 150_000), ("a", 50_000), ("a", 160_000))
    assert silences(heard, batch, 400_000, offline_after_s=30.0) == [
        StatusUpdate("a", OFF, 130_000, silent=True),
        StatusUpdate("a", ON, 150_000),
    ]


def test_readings_that_arrive_late_but_stamped_without_a_gap_end_no_silence() -> None:
    """A broker or an edge buffer held them through an outage of the platform: received
    minutes after the last, stamped 5 s apart."""
    heard = {"a": Heard(100_000, 100_000)}
    batch = _readings(*(("a", 100_000 + 5_000 * k) for k in range(1, 60)))
    assert silences(heard, batch, 400_000, offline_after_s=30.0) == []


def test_a_simulator_faster_than_real_time_is_not_silent_between_its_readings() -> None:
    """At 60 times real time a reading every 5 s is stamped 300 s after the one before."""
    heard = {"a": Heard(100_000, 100_000)}
    assert silences(heard, _readings(("a", 400_000)), 105_000, offline_after_s=30.0) == []
