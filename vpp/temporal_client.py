"""The one way every process connects to Temporal: pydantic data converter, our namespace."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from vpp.config import TemporalSettings


async def connect(temporal: TemporalSettings) -> Client:
    return await Client.connect(
        temporal.address,
        namespace=temporal.namespace,
        data_converter=pydantic_data_converter,
    )
