"""The `vpp` command: one entry point for every process of the platform."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, NoReturn

import typer

from vpp.config import get_settings
from vpp.edge_sim.command import run as edge_sim_run
from vpp.stack import ServerReport, Stack, StackError, State
from vpp.stack.process import tail
from vpp.stack.servers import SERVER_NAMES

app = typer.Typer(help="Virtual Power Plant platform.", no_args_is_help=True)
stack_app = typer.Typer(help="The local stack of real servers (no Docker needed).")
app.add_typer(stack_app, name="stack")
app.command("edge-sim")(edge_sim_run)

Names = Annotated[
    list[str] | None,
    typer.Argument(help=f"Servers to act on (default all): {', '.join(SERVER_NAMES)}"),
]


def _stack(names: list[str] | None) -> Stack:
    try:
        return Stack(get_settings(), only=names or ())
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


def main() -> None:
    app()
