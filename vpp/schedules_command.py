"""`vpp schedules apply` and `vpp schedules list` (the logic is `vpp.schedules`, imported
when a command runs so that the `vpp` command starts quickly)."""

from __future__ import annotations

import asyncio

import typer

from vpp.config import get_settings

schedules_app = typer.Typer(
    help="Temporal Schedules of the platform's cycles.", no_args_is_help=True
)


@schedules_app.command("apply")
def apply_command() -> None:
    """Create or update every schedule (idempotent), then describe them."""
    from vpp.schedules import all_definitions, apply, describe
    from vpp.temporal_client import connect_or_exit

    async def go() -> list[str]:
        settings = get_settings()
        client = await connect_or_exit(settings.temporal)
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
    from vpp.temporal_client import connect_or_exit

    async def go() -> list[str]:
        settings = get_settings()
        client = await connect_or_exit(settings.temporal)
        return await describe(client, [d.schedule_id for d in all_definitions(settings)])

    for line in asyncio.run(go()):
        typer.echo(line)
