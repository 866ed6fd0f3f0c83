"""The automation switch in the `automation` collection: read by every cycle, set by an
admin (GraphQL `setAutomation`). Until an admin sets it, the settings' defaults apply."""

from __future__ import annotations

from datetime import datetime

from vpp.optimize.documents import AUTOMATION, SWITCH_ID
from vpp.optimize.models import AutomationSwitch
from vpp.optimize.settings import OptimizeSettings
from vpp.store.database import Database


async def read_switch(db: Database, defaults: OptimizeSettings) -> AutomationSwitch:
    doc = await db[AUTOMATION].find_one({"_id": SWITCH_ID})
    if doc is None:
        return AutomationSwitch(enabled=defaults.enabled, dry_run=defaults.dry_run)
    return AutomationSwitch(
        enabled=bool(doc["enabled"]),
        dry_run=bool(doc["dry_run"]),
        updated_by=doc.get("updated_by"),
        updated_at=doc.get("updated_at"),
    )


async def set_switch(
    db: Database,
    defaults: OptimizeSettings,
    *,
    by: str,
    now: datetime,
    enabled: bool | None = None,
    dry_run: bool | None = None,
) -> AutomationSwitch:
    """Change the given parts of the switch (the others keep their value)."""
    current = await read_switch(db, defaults)
    new = AutomationSwitch(
        enabled=current.enabled if enabled is None else enabled,
        dry_run=current.dry_run if dry_run is None else dry_run,
        updated_by=by,
        updated_at=now,
    )
    await db[AUTOMATION].replace_one(
        {"_id": SWITCH_ID}, {"_id": SWITCH_ID, **new.model_dump()}, upsert=True
    )
    return new
