"""The one way every process connects to Temporal: pydantic data converter, our namespace."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from vpp.config import TemporalSettings


async def connect(temporal: TemporalSettings, *, runtime: Runtime | None = None) -> Client:
    """A client; a worker passes the `runtime` that exports the SDK's metrics (a worker's
    metrics go through its client's runtime)."""
    return await Client.connect(
        temporal.address,
        namespace=temporal.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
