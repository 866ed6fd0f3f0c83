"""What the optimisation cycle asks: a policy maps an observation to an action.

`Policy.act` returns the battery's terminal power for the next hour as a share of its
nominal power, in [-1, 1], positive charging (kW = action * `max_power_kw`). Under
`RLSettings.idle_below_kw` it is no command: the guard drops it and the node
self-consumes, as in the env. The env assumes a zero-export inverter
(`RLSettings.zero_export`): a discharge is capped at the home's own net load, so the
guard caps discharge kW at the node's load - PV.

The live cycle calls `policy = await load_policy(db)` then `policy.act(obs_input)`:
the registry's champion (SB3 agents, acting alone or as the residual on top of the
rule-based controller, `vpp.ml.rl.residual`), or `RuleBasedPolicy` while none is stored
or the stored one cannot be used. `policy.observe(obs_input)` is the vector the policy
reads, which the decision stores. SB3 and torch load only when a champion exists.
"""

from __future__ import annotations

import asyncio
import io
import logging
import zipfile
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from vpp.ml.rl.baselines import RuleBasedPolicy
from vpp.ml.rl.observation import (
    ENV_VERSION,
    HORIZON,
    OBS_SIZE,
    Float32Array,
    ObservationInput,
    build_observation,
)
from vpp.ml.rl.settings import RLSettings

log = logging.getLogger(__name__)

# schema.json's electrical_storage efficiency, the same for all 17 CityLearn homes.
DEFAULT_EFFICIENCY = 0.9
# Loaded agents by (name, version): records and files never change once stored.
_CACHE_SIZE = 4
# The entry that marks a stored ensemble (SB3's own zips hold `data` and `*.pth`).
ENSEMBLE_MARKER = "ensemble-members"

__all__ = ["Policy", "RuleBasedPolicy", "SB3Policy", "load_policy", "rule_based"]


class Policy(Protocol):
    name: str
    # Whether it reads the last hours' deviations, which the cycle then fetches.
    reads_recent: bool

    def act(self, obs_input: ObservationInput) -> float: ...

    def observe(self, obs_input: ObservationInput) -> Float32Array: ...


class SB3Policy:
    """Trained stable-baselines3 agents behind the `Policy` interface (deterministic).

    With several agents (seeds of one algorithm) the action is the mean of theirs: the
    seeds disagree most where each is least sure, and the mean is steadier than any one
    of them, which the validation split rewarded. One agent is stored as SB3's own zip;
    several as a zip holding one such zip per member (`ENSEMBLE_MARKER` names it).
    """

    # The length of the vector its agents read (the registry records it).
    observation_size = OBS_SIZE
    reads_recent = False

    def __init__(self, model: Any, name: str, *, more: Sequence[Any] = ()) -> None:
        self.models: list[Any] = [model, *more]
        self.name = name

    @property
    def model(self) -> Any:
        """The first agent (the only one unless this is an ensemble)."""
        return self.models[0]

    def act(self, obs_input: ObservationInput) -> float:
        return float(np.clip(self.mean_action(self.observe(obs_input)), -1.0, 1.0))

    def observe(self, obs_input: ObservationInput) -> Float32Array:
        return build_observation(obs_input)

    def mean_action(self, obs: Float32Array) -> float:
        """The agents' mean deterministic action for the vector `obs`."""
        actions = [
            float(np.asarray(m.predict(obs, deterministic=True)[0]).reshape(-1)[0])
            for m in self.models
        ]
        return float(np.mean(actions))

    def to_bytes(self) -> bytes:
        extras = self._archive_extras()
        if len(self.models) == 1 and not extras:
            return _model_bytes(self.model)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(ENSEMBLE_MARKER, str(len(self.models)))
            for i, m in enumerate(self.models):
                archive.writestr(f"member-{i}.zip", _model_bytes(m))
            for entry, text in extras.items():
                archive.writestr(entry, text)
        return buffer.getvalue()

    def _archive_extras(self) -> dict[str, str]:
        """Entries a subclass stores beside the agents to be rebuilt from the file alone."""
        return {}

    @classmethod
    def from_bytes(
        cls, data: bytes, algorithm: str, name: str, rl: RLSettings | None = None
    ) -> SB3Policy:
        """The policy stored by `to_bytes`; a residual one (it says so in its file) is
        rebuilt on the rule-based controller of `rl`."""
        from vpp.ml.rl.residual import RESIDUAL_ENTRY, ResidualPolicy
        from vpp.ml.rl.train import algorithm_class

        algo = algorithm_class(algorithm)
        residual = None
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if ENSEMBLE_MARKER not in names:
                members = [data]
            else:
                count = int(archive.read(ENSEMBLE_MARKER))
                members = [archive.read(f"member-{i}.zip") for i in range(count)]
            if RESIDUAL_ENTRY in names:
                residual = archive.read(RESIDUAL_ENTRY).decode()
        models = [algo.load(io.BytesIO(m), device="cpu") for m in members]
        if residual is not None:
            return ResidualPolicy.from_entry(residual, models, name, rule_based(rl or RLSettings()))
        return cls(models[0], name, more=models[1:])


def _model_bytes(model: Any) -> bytes:
    buffer = io.BytesIO()
    model.save(buffer)
    return buffer.getvalue()


def rule_based(rl: RLSettings, efficiency: float = DEFAULT_EFFICIENCY) -> RuleBasedPolicy:
    return RuleBasedPolicy(
        efficiency=efficiency,
        soc_min=rl.soc_min,
        soc_max=rl.soc_max,
        degradation_per_kwh=rl.degradation_per_kwh,
        idle_below_kw=rl.idle_below_kw,
    )


def observation_size(algorithm: str) -> int:
    """The length of the vector an agent of `algorithm` reads."""
    from vpp.ml.rl.residual import RESIDUAL_OBS_SIZE, is_residual

    return RESIDUAL_OBS_SIZE if is_residual(algorithm) else OBS_SIZE


_loaded: dict[tuple[str, int], SB3Policy] = {}


async def load_policy(db: Any, rl: RLSettings | None = None) -> Policy:
    """The champion policy of the registry in `db`, or the rule-based controller."""
    from vpp.ml.rl.registry import PolicyRegistry

    rl = rl or RLSettings()
    registry = PolicyRegistry(db)
    record = await registry.champion()
    if record is None:
        return rule_based(rl)
    if record.env_version != ENV_VERSION:
        log.warning(
            "champion %s was trained where an action meant something else (env version %d, "
            "this code %d); using the rule-based policy",
            record.label,
            record.env_version,
            ENV_VERSION,
        )
        return rule_based(rl)
    expected = observation_size(record.algorithm)
    if record.observation_size != expected or record.horizon != HORIZON:
        log.warning(
            "champion %s was trained on %d observations (horizon %d), this code builds %d "
            "(horizon %d); using the rule-based policy",
            record.label,
            record.observation_size,
            record.horizon,
            expected,
            HORIZON,
        )
        return rule_based(rl)
    key = (record.name, record.version)
    if key not in _loaded:
        try:
            data = await registry.file(record)
            policy = await asyncio.to_thread(
                SB3Policy.from_bytes, data, record.algorithm, record.label, rl
            )
        except Exception:  # a broken file must not stop the cycle: fall back, loudly
            log.exception("cannot load champion %s; using the rule-based policy", record.label)
            return rule_based(rl)
        while len(_loaded) >= _CACHE_SIZE:
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = policy
    return _loaded[key]
