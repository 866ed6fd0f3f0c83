"""A node's readings carry times the store can tell apart."""

from __future__ import annotations

from datetime import timedelta

from vpp.edge_sim.clock import ManualClock
from vpp.edge_sim.node import EdgeDcNode, node_rng


def test_readings_within_one_millisecond_get_a_millisecond_each(clock: ManualClock) -> None:
    # The store keys readings by node and millisecond: readings taken back to back (the
    # sampler catching up after a stall) must not share one.
    node = EdgeDcNode("node-00001", 1, clock, node_rng(7, 1))
    stamps = []
    for _ in range(4):
        clock.advance(0.0002)
        node.advance()
        stamps.append(node.reading(50.0).timestamp)
    first = stamps[0]
    assert first.microsecond % 1000 == 0
    assert stamps == [first + timedelta(milliseconds=k) for k in range(4)]
    # Once the node's time passes them, readings follow it again, to the millisecond.
    clock.advance(1.0)
    node.advance()
    assert node.reading(50.0).timestamp == node.time.replace(
        microsecond=node.time.microsecond // 1000 * 1000
    )
