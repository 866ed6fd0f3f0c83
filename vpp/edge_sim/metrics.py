"""Prometheus metrics of one simulator process, served by its status API at `/metrics`.

Read from the fleet at scrape time (the nodes already count what they do), on a
registry of the app: the simulator's hot path pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from vpp.edge_sim.fleet import Fleet

_COUNTERS = {
    "sent": ("vpp_edge_sim_messages_published", "Telemetry readings the broker acknowledged"),
    "resent": ("vpp_edge_sim_messages_resent", "Telemetry readings sent again after a loss"),
    "dropped": (
        "vpp_edge_sim_buffer_dropped",
        "Readings dropped because the store-and-forward buffer was full (oldest first)",
    ),
    "acks_sent": ("vpp_edge_sim_acks_sent", "Command acks published"),
    "applied_commands": ("vpp_edge_sim_commands_applied", "Commands applied (each id once)"),
}


class FleetCollector(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        states = self._fleet.states()
        yield GaugeMetricFamily("vpp_edge_sim_nodes", "Nodes this process simulates", len(states))
        yield GaugeMetricFamily(
            "vpp_edge_sim_nodes_connected",
            "Nodes whose MQTT session is connected",
            sum(s.connected for s in states),
        )
        yield GaugeMetricFamily(
            "vpp_edge_sim_buffered",
            "Readings and acks not yet confirmed delivered (store-and-forward buffer, in flight)",
            sum(s.pending for s in states),
        )
        for field, (name, documentation) in _COUNTERS.items():
            total = sum(int(getattr(s, field)) for s in states)
            yield CounterMetricFamily(name, documentation, value=total)


def fleet_registry(fleet: Fleet) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(FleetCollector(fleet))
    return registry
