"""Prometheus metrics of the ingester, on a registry the process (or a test) passes in.

The per-message counts (received, acknowledged) are plain awaitable tallies, read at
scrape time: a Prometheus counter costs a lock per increment, on the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from vpp.ingest.progress import Tally
from vpp.store.documents import DEAD_LETTERS, NODE_STATUS_LOG, TELEMETRY, DeadLetterReason


class _TallyCollector(Collector):
    def __init__(self, name: str, documentation: str, tally: Tally) -> None:
        self._name = name
        self._documentation = documentation
        self._tally = tally

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._documentation, value=self._tally.count)


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        # Awaitable counts: messages handed to ingest, messages acknowledged, failed
        # telemetry writes (each retried until it succeeds).
        self.received = Tally()
        self.acknowledged = Tally()
        self.store_failures = Tally()
        registry.register(
            _TallyCollector(
                "vpp_ingest_messages_received", "MQTT messages handed to ingest", self.received
            )
        )
        registry.register(
            _TallyCollector(
                "vpp_ingest_messages_acknowledged",
                "Messages handled for good (stored or dead-lettered), so acknowledged",
                self.acknowledged,
            )
        )
        self.stored = Counter(
            "vpp_ingest_readings_stored", "Readings written to MongoDB", registry=registry
        )
        self.dead_letters = Counter(
            "vpp_ingest_dead_letters",
            "Messages refused and written to dead_letters, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in DeadLetterReason:
            self.dead_letters.labels(reason=reason.value)
        self.batches = Counter("vpp_ingest_batches", "Telemetry batches written", registry=registry)
        self.batch_size = Histogram(
            "vpp_ingest_batch_size",
            "Readings per telemetry batch written (the batch size setting is the ceiling)",
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )
        self.flush_seconds = Histogram(
            "vpp_ingest_flush_seconds",
            "Time to write one telemetry batch to MongoDB (Redis follows in the background)",
            buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
            registry=registry,
        )
        self.store_errors = Counter(
            "vpp_ingest_store_errors",
            "Failed MongoDB writes (each is retried until it succeeds)",
            ["collection"],
            registry=registry,
        )
        # from zero, for rate() and alerts
        for collection in (TELEMETRY, DEAD_LETTERS, NODE_STATUS_LOG):
            self.store_errors.labels(collection)
        self.redis_errors = Counter(
            "vpp_ingest_redis_errors",
            "Failed Redis updates of the live state (the readings are stored regardless)",
            registry=registry,
        )
        self.silences = Counter(
            "vpp_ingest_silences_logged",
            "Status changes logged for nodes that fell silent (an offline and an online each)",
            registry=registry,
        )
        self.mqtt_connected = Gauge(
            "vpp_ingest_mqtt_connected",
            "1 while the ingester's MQTT session to the broker is up",
            registry=registry,
        )
        self.buffered = Gauge(
            "vpp_ingest_buffered",
            "Readings received but not yet stored (and so not yet acknowledged)",
            registry=registry,
        )
