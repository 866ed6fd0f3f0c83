"""Prometheus metrics of the ack relay, read from its running counts at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from vpp.dispatch.relay import RelayStats

_COUNTERS = {
    "received": ("vpp_ack_relay_acks_received", "Acks read from the broker"),
    "forwarded": ("vpp_ack_relay_acks_forwarded", "Acks delivered to a shard in a signal"),
    "late": ("vpp_ack_relay_acks_late", "Acks for a shard that no longer runs (dropped)"),
    "invalid": ("vpp_ack_relay_acks_invalid", "Messages that are no ack this platform routes"),
    "signals": ("vpp_ack_relay_signals", "Batched signals sent to shards"),
    "signal_errors": ("vpp_ack_relay_signal_errors", "Failed signal attempts (each retried)"),
}


class RelayCollector(Collector):
    def __init__(self, stats: Callable[[], RelayStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self._stats()
        for field, (name, documentation) in _COUNTERS.items():
            yield CounterMetricFamily(name, documentation, value=getattr(stats, field))


def serve_relay_metrics(stats: Callable[[], RelayStats], host: str, port: int) -> None:
    registry = CollectorRegistry()
    registry.register(RelayCollector(stats))
    start_http_server(port, addr=host, registry=registry)
