"""Commands as a node receives them: decoding, the reasons for refusing one, and the
bounded memory of command ids that makes applying a command at most once possible."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import orjson
from pydantic import ValidationError

from vpp.models import Ack, Action, Command

# Enough for every command a dispatch retries, bounded so a long run does not grow.
COMMAND_MEMORY = 1024
_MAX_ID = 128


class Reason(StrEnum):
    """The first word of a rejection's `reason`; what follows is for people."""

    INVALID = "invalid"
    EXPIRED = "expired"
    UNSUPPORTED = "unsupported"
    KW_OVER_CAPACITY = "kw_over_capacity"
    KW_OVER_FLEXIBLE_LOAD = "kw_over_flexible_load"
    SOC_TOO_LOW = "soc_too_low"
    SOC_TOO_HIGH = "soc_too_high"


def reason(code: Reason, detail: str) -> str:
    return f"{code.value}: {detail}"


@dataclass(frozen=True)
class Undecodable:
    """A payload that is not a valid Command; `command_id` when it could still be read."""

    command_id: str | None
    detail: str


def decode(payload: bytes) -> Command | Undecodable:
    try:
        return Command.model_validate_json(payload)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}"
            for err in exc.errors()[:3]
        )
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Undecodable(None, detail)
    command_id = raw.get("command_id") if isinstance(raw, dict) else None
    if isinstance(command_id, str) and 1 <= len(command_id) <= _MAX_ID:
        return Undecodable(command_id, detail)
    return Undecodable(None, detail)


@dataclass
class ActiveCommand:
    command: Command
    setpoint_kw: float  # battery kW (positive charges) or kW of load deferred
    started: datetime
    ends: datetime
    energy_kwh: float = 0.0  # magnitude actually delivered so far
    limited: bool = False  # a physical limit cut the setpoint at some point

    @property
    def action(self) -> Action:
        return self.command.action

    def applied_kw(self, until: datetime) -> float:
        hours = (min(until, self.ends) - self.started).total_seconds() / 3600.0
        return round(self.energy_kwh / hours, 3) if hours > 0 else 0.0


class AckMemory:
    """The latest ack sent for each recent command id, oldest forgotten first."""

    def __init__(self, size: int = COMMAND_MEMORY) -> None:
        self._size = size
        self._acks: OrderedDict[str, Ack] = OrderedDict()

    def __contains__(self, command_id: str) -> bool:
        return command_id in self._acks

    def __len__(self) -> int:
        return len(self._acks)

    def get(self, command_id: str) -> Ack | None:
        return self._acks.get(command_id)

    def remember(self, ack: Ack) -> None:
        self._acks[ack.command_id] = ack
        self._acks.move_to_end(ack.command_id)
        while len(self._acks) > self._size:
            self._acks.popitem(last=False)
