"""The one way every process connects to Temporal: pydantic data converter, our namespace."""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import NoReturn

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from vpp.config import TemporalSettings

# Set once this process has started the SDK's Rust core (its first client does).
_core_started = threading.Event()


async def connect(temporal: TemporalSettings, *, runtime: Runtime | None = None) -> Client:
    """A client; a worker passes the `runtime` that exports the SDK's metrics (a worker's
    metrics go through its client's runtime)."""
    _core_started.set()
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


def core_started() -> bool:
    return _core_started.is_set()


def exit_before_teardown(code: int) -> NoReturn:
    """End a process whose work is done without the interpreter's teardown. The SDK's
    Rust threads can outlive it and abort a short-lived client's process after its
    command succeeded (`Fatal Python error: PyGILState_Release`, exit 134; open upstream
    as temporalio/sdk-python#300): `vpp forecast cycle` did so in 2 of 4 runs here. The
    output and the log handlers are flushed first, as the teardown would have."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)
