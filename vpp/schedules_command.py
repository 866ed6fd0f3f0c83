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
    """Create or update every schedule (idempotent), start a forecast cycle now, and a
    training if a forecast target has no champion model yet; then describe them."""
    from pymongo.errors import PyMongoError

    from vpp.schedules import (
        FORECAST_TRAIN_SCHEDULE,
        all_definitions,
        apply,
        describe,
        untrained_targets,
    )
    from vpp.temporal_client import connect_or_exit

    async def go() -> list[str]:
        settings = get_settings()
        client = await connect_or_exit(settings.temporal)
        definitions = all_definitions(settings)
        lines = []
        try:
            untrained = await untrained_targets(settings)
        except PyMongoError as exc:
            # The schedules matter more than an early training: apply them anyway.
            untrained = []
            lines.append(f"{FORECAST_TRAIN_SCHEDULE}: model registry unreadable ({exc})")
        outcome = await apply(client, definitions, {FORECAST_TRAIN_SCHEDULE} if untrained else ())
        lines += [f"{sid}: {how.value}" for sid, how in outcome.items()]
        if untrained:
            names = ", ".join(t.value for t in untrained)
            lines.append(f"{FORECAST_TRAIN_SCHEDULE}: started now, no champion model for {names}")
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
