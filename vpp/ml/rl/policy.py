"""What the optimisation cycle asks: a policy maps an observation to an action.

`Policy.act` returns the battery's terminal power for the next hour as a share of its
nominal power, in [-1, 1], positive charging (kW = action * `max_power_kw`). The live
cycle calls `policy = await load_policy(db)` then `policy.act(obs_input)`; the safety
guard checks the result against the node's limits.
"""

from __future__ import annotations

from typing import Protocol

from vpp.ml.rl.observation import ObservationInput


class Policy(Protocol):
    name: str

    def act(self, obs_input: ObservationInput) -> float: ...
