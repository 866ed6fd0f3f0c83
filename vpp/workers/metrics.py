"""Prometheus metrics of the Temporal workers, observed by a worker interceptor, so the
workflows and activities themselves carry no metrics code.

Two endpoints per worker process:
- ours (prometheus_client, `settings.metrics.*_worker_port`): every activity's count,
  outcome and duration; from the dispatch activities' inputs, dispatches by final status
  and their duration, node commands by final status and each node's ack latency;
- the SDK's (its Rust core, `*_worker_sdk_port`): Temporal's own worker metrics (task
  slots, poll and schedule-to-start latencies, `temporal_workflow_endtoend_latency`...)
  plus the cycle metrics below, which a workflow can only record through the SDK's
  replay-safe meter (a replayed workflow must not count its cycle twice).

Labels are bounded: activity and workflow types, and status enums.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from temporalio import activity, workflow
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from vpp.dispatch.models import (
    FINAL_NODE_STATUSES,
    DispatchRecordInput,
    DispatchStatus,
    NodeStatus,
    RecordNodesInput,
)

_ACTIVITY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_DISPATCH_BUCKETS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# The workflows whose duration is a cycle of the automation (label `cycle`).
CYCLE_WORKFLOWS = {"ForecastCycleWorkflow": "forecast", "OptimizeCycleWorkflow": "optimize"}
# Exported as `vpp_cycle_duration_seconds` and `vpp_cycles_total`: the runtime adds the
# unit and the counter suffix.
CYCLE_DURATION = "vpp_cycle_duration"
CYCLES = "vpp_cycles"


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.activities = Counter(
            "vpp_worker_activities",
            "Activity executions, by activity type and outcome (ok, error)",
            ["activity", "outcome"],
            registry=r,
        )
        self.activity_seconds = Histogram(
            "vpp_worker_activity_seconds",
            "Time one activity execution took, by activity type",
            ["activity"],
            buckets=_ACTIVITY_BUCKETS,
            registry=r,
        )
        self.dispatches = Counter(
            "vpp_dispatches",
            "Dispatches that ended, by final status (completed, partial, failed, ...)",
            ["status"],
            registry=r,
        )
        self.dispatch_seconds = Histogram(
            "vpp_dispatch_duration_seconds",
            "From a dispatch's mutation to its final status",
            buckets=_DISPATCH_BUCKETS,
            registry=r,
        )
        self.dispatch_nodes = Counter(
            "vpp_dispatch_nodes",
            "Node commands that ended, by final status (completed, rejected, expired, cancelled)",
            ["status"],
            registry=r,
        )
        self.node_ack_seconds = Histogram(
            "vpp_dispatch_node_ack_seconds",
            "From a dispatch's mutation to a node's first answer (accepted or rejected)",
            buckets=_DISPATCH_BUCKETS,
            registry=r,
        )
        # Every status from zero, so a ratio of rates has its series before the first one.
        for status in DispatchStatus:
            if status.final:
                self.dispatches.labels(status.value)
        for node_status in FINAL_NODE_STATUSES:
            self.dispatch_nodes.labels(node_status.value)

    def observe_dispatch(self, record: DispatchRecordInput) -> None:
        """A dispatch's record: counted once, when it carries the final status."""
        if not record.status.final or record.finished_at is None:
            return
        self.dispatches.labels(record.status.value).inc()
        self.dispatch_seconds.observe(
            max(0.0, (record.finished_at - record.spec.created_at).total_seconds())
        )

    def observe_nodes(self, record: RecordNodesInput) -> None:
        """A shard's log entries: a node is written with its final status once (a completed
        one after its measurement), so each final node is counted once."""
        created = record.spec.created_at
        for node in record.nodes:
            if node.status not in FINAL_NODE_STATUSES:
                continue
            self.dispatch_nodes.labels(node.status.value).inc()
            answered = node.answered_at
            if answered is not None and node.status is not NodeStatus.CANCELLED:
                self.node_ack_seconds.observe(max(0.0, (answered - created).total_seconds()))


class MetricsInterceptor(Interceptor):
    """Counts and times every activity; feeds the dispatch metrics from the dispatch
    activities' inputs once they succeed (a failed attempt is retried, and counted then);
    and records cycle durations from the workflows, through the SDK's meter."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next, self.metrics)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _CycleMetrics


_OBSERVERS: dict[str, Callable[[WorkerMetrics, Any], None]] = {
    "dispatch.record_dispatch": lambda m, arg: m.observe_dispatch(arg),
    "dispatch.record_nodes": lambda m, arg: m.observe_nodes(arg),
}
_INPUT_TYPES: dict[str, type] = {
    "dispatch.record_dispatch": DispatchRecordInput,
    "dispatch.record_nodes": RecordNodesInput,
}


class _ActivityMetrics(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        started = time.perf_counter()
        try:
            result = await super().execute_activity(input)
        except BaseException:
            self._metrics.activities.labels(name, "error").inc()
            raise
        finally:
            self._metrics.activity_seconds.labels(name).observe(time.perf_counter() - started)
        self._metrics.activities.labels(name, "ok").inc()
        observe = _OBSERVERS.get(name)
        if observe is not None and input.args and isinstance(input.args[0], _INPUT_TYPES[name]):
            observe(self._metrics, input.args[0])
        return result


class _CycleMetrics(WorkflowInboundInterceptor):
    """A cycle workflow's duration (workflow time, from its start to its end) and outcome."""

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        cycle = CYCLE_WORKFLOWS.get(workflow.info().workflow_type)
        if cycle is None:
            return await super().execute_workflow(input)
        outcome = "failed"
        try:
            result = await super().execute_workflow(input)
            outcome = "completed"
            return result
        finally:
            meter = workflow.metric_meter().with_additional_attributes({"cycle": cycle})
            meter.create_counter(CYCLES, "Automation cycles that ended, by outcome").add(
                1, {"outcome": outcome}
            )
            took = workflow.now() - workflow.info().start_time
            meter.create_histogram_timedelta(
                CYCLE_DURATION, "Duration of one automation cycle, from start to end"
            ).record(max(took, timedelta(0)))


def sdk_runtime(host: str, port: int) -> Runtime:
    """A Temporal runtime whose core serves the SDK's metrics at http://host:port/metrics,
    named the Prometheus way (`_total` counters, durations in seconds)."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=f"{host}:{port}",
                counters_total_suffix=True,
                durations_as_seconds=True,
                unit_suffix=True,
            )
        )
    )


def serve_metrics(metrics: WorkerMetrics, host: str, port: int) -> None:
    """Serve our registry at http://host:port/metrics (a daemon thread)."""
    start_http_server(port, addr=host, registry=metrics.registry)
