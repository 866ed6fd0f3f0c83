"""`vpp schedules apply` and `vpp schedules list` (the logic is `vpp.schedules`, imported
when a command runs so that the `vpp` command starts quickly)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

from vpp.config import Settings, get_settings

if TYPE_CHECKING:
    from temporalio.client import Client

schedules_app = typer.Typer(
    help="Temporal Schedules of the platform's cycles.", no_args_is_help=True
)


async def _connect(settings: Settings) -> Client:
    """The Temporal client, or a one-line error and exit 1 when the server is away."""
    from vpp.temporal_client import connect

    try:
        return await connect(settings.temporal)
    except RuntimeError as exc:  # the SDK's error for a refused or failed connection
        typer.secho(
            f"error: cannot reach Temporal at {settings.temporal.address} "
            f"(start it with `vpp stack up`): {str(exc).splitlines()[0][:200]}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=1) from None


@schedules_app.command("apply")
def apply_command() -> None:
    """Create or update every schedule (idempotent), then describe them."""
    from vpp.schedules import all_definitions, apply, describe

    async def go() -> list[str]:
        settings = get_settings()
        client = await _connect(settings)
        definitions = all_definitions(settings)
        outcome = await apply(client, definitions)
        lines = [f"{sid}: {how.value}" for sid, how in outcome.items()]
        return lines + await describe(client, [d.schedule_id for d in definitions])

    for line in asyncio.run(go()):
        typer.echo(line)


@schedules_app.command("list")
def list_command() -> None:
    """Describe every schedule the platform defines."""
    from vpp.schedules import all_definitions, describe

    async def go() -> list[str]:
        settings = get_settings()
        client = await _connect(settings)
        return await describe(client, [d.schedule_id for d in all_definitions(settings)])

    for line in asyncio.run(go()):
        typer.echo(line)
