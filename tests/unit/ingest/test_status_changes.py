"""Which status messages ingest logs: those that change what it knew of the node."""

from __future__ import annotations

from vpp.models import NodeStatus
from vpp.store.live_state import StatusUpdate
from vpp.store.status_log import change_id, changes

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
