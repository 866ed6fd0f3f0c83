"""The optimisation's MongoDB collections.

- `decisions`: one document per node per cycle: what the policy saw (the observation and
  the readable inputs behind it), its raw action, what the guard changed and why, the
  command that went out (or would have, dry run) and its expected saving. `_id` is
  `<cycle id>:<node id>`, so a retried activity rewrites rather than duplicates.
- `automation`: the switch, one document (`_id` = "optimize"): on/off and dry run, who
  set it and when. Missing until an admin first sets it; then the settings' defaults
  apply.
"""

from __future__ import annotations

from datetime import UTC, datetime

from beanie import Document
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from vpp.optimize.models import GuardChange

DECISIONS = "decisions"
AUTOMATION = "automation"
SWITCH_ID = "optimize"


def _now() -> datetime:
    return datetime.now(UTC)


class DecisionInputs(BaseModel):
    """The readable inputs behind the observation vector."""

    model_config = ConfigDict(extra="ignore")

    soc: float | None = None
    price_now: float | None = None
    carbon_now: float | None = None
    load_kw_next_h: float | None = None
    pv_kw_next_h: float | None = None
    forecast: str = "none"  # "forecast <cycle>", "persistence", or "none"


class DecisionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    cycle_id: str
    dc_id: str
    decided_at: AwareDatetime
    policy: str
    observation: list[float] = []
    inputs: DecisionInputs = DecisionInputs()
    raw_action: float | None = None  # the policy's output in [-1, 1]; None if not asked
    requested_kw: float = 0.0  # the raw action scaled to the node's kW
    kw: float = 0.0  # after the guard; positive charges
    action: str | None = None  # "charge", "discharge", or None (nothing sent: it self-consumes)
    changes: list[GuardChange] = []
    expected_saving: float = 0.0
    dry_run: bool = False
    dispatch_id: str | None = None


class Decision(DecisionRecord, Document):
    id: str  # type: ignore[assignment]  # "<cycle id>:<node id>"

    class Settings:
        name = DECISIONS
        indexes = [  # noqa: RUF012 - Beanie reads a plain class attribute
            IndexModel([("decided_at", DESCENDING)], name="decided_at"),
            IndexModel([("dc_id", ASCENDING), ("decided_at", DESCENDING)], name="dc_id_decided"),
            IndexModel([("cycle_id", ASCENDING)], name="cycle"),
        ]


class AutomationState(Document):
    id: str = SWITCH_ID  # type: ignore[assignment]
    enabled: bool
    dry_run: bool
    updated_by: str
    updated_at: AwareDatetime = Field(default_factory=_now)

    class Settings:
        name = AUTOMATION


OPTIMIZE_DOCUMENT_MODELS: list[type[Document]] = [Decision, AutomationState]
