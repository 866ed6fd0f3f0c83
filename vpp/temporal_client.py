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


async def connect_or_exit(temporal: TemporalSettings) -> Client:
    """For a command: the client, or a one-line error and exit 1 when the server is away."""
    import typer

    try:
        return await connect(temporal)
    except RuntimeError as exc:  # the SDK's error for a refused or failed connection
        typer.secho(
            f"error: cannot reach Temporal at {temporal.address} "
            f"(start it with `vpp stack up`): {str(exc).splitlines()[0][:200]}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1) from None
