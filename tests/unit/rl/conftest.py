"""Shared pieces of the optimisation tests: the settings and short episodes on real data."""

from __future__ import annotations

import pytest

from vpp.config import Settings
from vpp.ml.rl.episodes import EpisodeSpec, consecutive_episodes
from vpp.ml.rl.settings import RLSettings


@pytest.fixture(scope="session")
def rl(settings: Settings) -> RLSettings:
    # The data where the environment says (VPP_RL__DATA_DIR), as the suite's data check.
    return RLSettings(episode_hours=48, data_dir=settings.rl.data_dir)


@pytest.fixture(scope="session")
def held_out(rl: RLSettings) -> list[EpisodeSpec]:
    """Two days of three held-out buildings at a few points of May to July."""
    episodes = consecutive_episodes([11, 14, 17], rl.eval_months, rl.episode_hours)
    return episodes[::9]
