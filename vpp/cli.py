"""The `vpp` command: one entry point for every process of the platform."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from vpp.config import Settings, describe_invalid, get_settings
from vpp.edge_sim.command import run as edge_sim_run
from vpp.ml.forecast.command import data_app, forecast_app
from vpp.ml.rl.command import rl_app
from vpp.schedules_command import schedules_app
from vpp.stack import ServerReport, Stack, StackError, State
from vpp.stack.observability import OBSERVABILITY_TYPES
from vpp.stack.platform import PLATFORM_NAMES, PLATFORM_TYPES
from vpp.stack.process import tail
from vpp.stack.servers import SERVER_NAMES

app = typer.Typer(help="Virtual Power Plant platform.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack of real servers (no Docker needed).")
app.add_typer(stack_app, name="stack")
platform_app = typer.Typer(help="The platform's own processes: ingest, workers, simulator.")
app.add_typer(platform_app, name="platform")
observability_app = typer.Typer(help="Prometheus on loopback, scraping the local platform.")
app.add_typer(observability_app, name="observability")
nodes_app = typer.Typer(help="The node registry.")
app.add_typer(nodes_app, name="nodes")
app.command("edge-sim")(edge_sim_run)
app.add_typer(forecast_app, name="forecast")
app.add_typer(rl_app, name="rl")
app.add_typer(data_app, name="data")
app.add_typer(schedules_app, name="schedules")

Names = Annotated[
    list[str] | None,
    typer.Argument(help=f"Servers to act on (default all): {', '.join(SERVER_NAMES)}"),
]


def _stack(names: list[str] | None) -> Stack:
    try:
        return Stack(get_settings(), only=names or ())
    except StackError as exc:
        _fail(exc)


def _platform(names: list[str] | None) -> Stack:
    try:
        return Stack(get_settings(), only=names or (), server_types=PLATFORM_TYPES)
    except StackError as exc:
        _fail(exc)


def _fail(exc: StackError) -> NoReturn:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@stack_app.command("up")
def stack_up(names: Names = None) -> None:
    """Start the servers (reusing any already running) and wait until each answers."""
    stack = _stack(names)
    t0 = time.monotonic()

    def show(report: ServerReport) -> None:
        typer.echo(report.line())

    try:
        asyncio.run(stack.up(on_ready=show))
    except StackError as exc:
        _fail(exc)
    typer.echo(f"stack up in {time.monotonic() - t0:.1f} s; data in {stack.data_dir}")


@stack_app.command("down")
def stack_down(names: Names = None) -> None:
    """Stop exactly the servers `up` started."""
    for report in _stack(names).down():
        typer.echo(report.line())


@stack_app.command("status")
def stack_status(names: Names = None) -> None:
    """Each server, its address and whether it answers; exit 1 if any does not."""
    reports = asyncio.run(_stack(names).status())
    for report in reports:
        typer.echo(report.line())
    if any(r.state not in (State.RUNNING, State.EXTERNAL) for r in reports):
        raise typer.Exit(code=1)


@stack_app.command("logs")
def stack_logs(
    names: Names = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Lines per server.")] = 20,
) -> None:
    """The last lines of each server's log."""
    stack = _stack(names)
    for server in stack.servers:
        path = stack.log_file(server.name)
        typer.secho(f"==> {server.name}: {path}", bold=True)
        typer.echo(tail(path, lines))


ProcessNames = Annotated[
    list[str] | None,
    typer.Argument(help=f"Processes to act on (default all): {', '.join(PLATFORM_NAMES)}"),
]


@platform_app.command("up")
def platform_up(names: ProcessNames = None) -> None:
    """Start the platform's processes as tracked background processes (after `stack up`)."""
    stack = _platform(names)
    try:
        asyncio.run(stack.up(on_ready=lambda report: typer.echo(report.line())))
    except StackError as exc:
        _fail(exc)


@platform_app.command("down")
def platform_down(names: ProcessNames = None) -> None:
    """Stop the platform's processes that `platform up` started."""
    for report in _platform(names).down():
        typer.echo(report.line())


@platform_app.command("status")
def platform_status(names: ProcessNames = None) -> None:
    """Each platform process and whether it is ready; exit 1 if any is not."""
    reports = asyncio.run(_platform(names).status())
    for report in reports:
        typer.echo(report.line())
    if any(r.state is not State.RUNNING for r in reports):
        raise typer.Exit(code=1)


def _observability() -> Stack:
    try:
        return Stack(get_settings(), server_types=OBSERVABILITY_TYPES)
    except StackError as exc:
        _fail(exc)


@observability_app.command("up")
def observability_up() -> None:
    """Start Prometheus (Debian's package) with infra/prometheus's config and alert rules."""
    try:
        asyncio.run(_observability().up(on_ready=lambda report: typer.echo(report.line())))
    except StackError as exc:
        _fail(exc)


@observability_app.command("down")
def observability_down() -> None:
    """Stop the Prometheus that `observability up` started."""
    for report in _observability().down():
        typer.echo(report.line())


@nodes_app.command("seed")
def nodes_seed(
    count: Annotated[
        int | None, typer.Option(help="Nodes to register (default VPP_EDGE_SIM__NODES).")
    ] = None,
) -> None:
    """Register the first N fleet nodes (node-00001 ...), as the simulator runs them."""
    from vpp.store.seed import run_seed

    try:
        result = run_seed(count)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"nodes registered: {result.created} new, {result.existing} already there")


@app.command("ingest")
def ingest(
    instance: Annotated[
        str | None, typer.Option(help="This ingester's stable name (default: host name).")
    ] = None,
) -> None:
    """Ingest telemetry: MQTT shared subscription -> MongoDB batches + Redis live push."""
    from vpp.ingest.command import run

    run(instance=instance)


@app.command("api")
def api() -> None:
    """Serve the API: GraphQL (/graphql), the seed's REST endpoints (/api), /healthz, /readyz,
    /metrics."""
    from vpp.api.app import run

    run()


# The ML queues a `vpp worker --queue` value polls: both in one process, or one each.
_ML_QUEUES = {"ml": ("cycles", "training"), "ml-cycles": ("cycles",), "ml-train": ("training",)}


@app.command("worker")
def worker(
    queue: Annotated[
        str,
        typer.Option(
            help=(
                "io: dispatch and I/O activities; ml: forecast and optimisation cycles and "
                "the trainings (CPU-heavy); ml-cycles or ml-train: one of those two alone."
            )
        ),
    ] = "io",
    instance: Annotated[
        str | None, typer.Option(help="This worker's name (default: host name).")
    ] = None,
) -> None:
    """A Temporal worker: the I/O task queue (dispatch) or the ML task queues (forecasts,
    optimisation, trainings)."""
    if queue in _ML_QUEUES:
        from vpp.workers import ml

        ml.run(roles=frozenset(ml.MlRole(r) for r in _ML_QUEUES[queue]))
    elif queue == "io":
        from vpp.workers import io

        io.run(instance=instance)
    else:
        choices = ", ".join(["io", *_ML_QUEUES])
        typer.secho(f"error: unknown queue {queue!r}; choose {choices}", fg="red", err=True)
        raise typer.Exit(code=2)


@app.command("ack-relay")
def ack_relay(
    instance: Annotated[
        str | None, typer.Option(help="This relay's stable name; keep it across restarts.")
    ] = None,
) -> None:
    """Relay nodes' acks from MQTT to their dispatch workflows, batched into signals."""
    from vpp.dispatch import relay

    relay.run(instance=instance)


def main() -> None:
    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        # A bad variable or .env line: say which, without a traceback.
        typer.echo(f"error: {describe_invalid(exc)}", err=True)
        raise SystemExit(1) from None
    except SystemExit as done:
        # Looked up, not imported: a command that never used Temporal need not load it.
        temporal = sys.modules.get("vpp.temporal_client")
        if temporal is not None and temporal.core_started():
            temporal.exit_before_teardown(exit_code(done))
        raise


def exit_code(done: SystemExit) -> int:
    """The status `done` ends the process with, as the interpreter would give it."""
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code
    print(done.code, file=sys.stderr)  # the interpreter prints a message, then exits 1
    return 1
