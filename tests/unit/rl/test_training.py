"""A tiny trained agent: it acts within [-1, 1], survives a save and load, and never
beats the LP optimum on the same episodes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from vpp.ml.rl.episodes import EpisodeSpec, load_home
from vpp.ml.rl.evaluate import LP_NAME, evaluate
from vpp.ml.rl.hyperparams import PPOParams, SACParams
from vpp.ml.rl.messages import PolicySummary, choose_champion
from vpp.ml.rl.policy import SB3Policy
from vpp.ml.rl.settings import RLSettings
from vpp.ml.rl.train import Trained, train

TINY_PPO = PPOParams(total_timesteps=2048, n_steps=512, batch_size=64, n_epochs=2)


@pytest.fixture(scope="module")
def tiny(rl: RLSettings) -> Trained:
    return train(rl, TINY_PPO)


def test_tiny_agent_never_beats_the_lp(
    rl: RLSettings, held_out: list[EpisodeSpec], tiny: Trained
) -> None:
    tiny.policy.name = "ppo-tiny"
    report = evaluate(rl, held_out, [tiny.policy])
    assert report.row("ppo-tiny").objective >= report.row(LP_NAME).objective - 1e-6
    assert report.row("ppo-tiny").saving_vs_lp <= 1.0 + 1e-9


def test_actions_are_in_range_and_survive_a_round_trip(rl: RLSettings, tiny: Trained) -> None:
    home = load_home(rl.data_dir, 12)
    loaded = SB3Policy.from_bytes(tiny.policy.to_bytes(), "ppo", "again")
    for row in range(200, 248):
        inp = home.observation_input(row, 0.3 + 0.01 * (row % 50))
        a = tiny.policy.act(inp)
        assert -1.0 <= a <= 1.0
        assert loaded.act(inp) == pytest.approx(a, abs=1e-6)


def test_sac_trains_a_few_steps(rl: RLSettings) -> None:
    steps: list[int] = []
    trained = train(
        rl,
        SACParams(total_timesteps=300, learning_starts=100, batch_size=32, net_arch=[16]),
        progress=lambda done, total: steps.append(done),
    )
    assert trained.timesteps == 300
    assert steps[-1] == 300
    obs = np.zeros(trained.policy.model.observation_space.shape, dtype=np.float32)
    action, _ = trained.policy.model.predict(obs, deterministic=True)
    assert -1.0 <= float(action[0]) <= 1.0


def _summary(name: str, saving: float, share: float, rule: float) -> PolicySummary:
    return PolicySummary(
        name=name,
        version=1,
        algorithm=name,
        timesteps=1,
        train_s=1.0,
        val_saving=saving,
        val_saving_vs_lp=share,
        val_rule_based_saving_vs_lp=rule,
    )


def test_the_champion_must_beat_the_rule_based_controller() -> None:
    sac = _summary("sac", 30.0, 0.9, 0.7)
    ppo = _summary("ppo", 20.0, 0.6, 0.7)
    assert choose_champion([sac, ppo]) == sac
    assert choose_champion([ppo]) is None
    assert choose_champion([]) is None


def test_an_ensemble_acts_on_its_members_mean_and_survives_a_round_trip(
    rl: RLSettings,
) -> None:
    params = SACParams(
        total_timesteps=200, learning_starts=50, batch_size=32, net_arch=[16], seeds=2
    )
    trained = train(rl, params)
    policy = trained.policy
    assert len(policy.models) == 2
    assert trained.timesteps == 400
    loaded = SB3Policy.from_bytes(policy.to_bytes(), "sac", "again")
    assert len(loaded.models) == 2
    home = load_home(rl.data_dir, 12)
    for row in range(200, 224):
        inp = home.observation_input(row, 0.5)
        members = [SB3Policy(m, "one").act(inp) for m in policy.models]
        assert policy.act(inp) == pytest.approx(np.mean(members), abs=1e-6)
        assert loaded.act(inp) == pytest.approx(policy.act(inp), abs=1e-6)


def test_training_leaves_nothing_in_the_temp_dir(
    rl: RLSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    train(rl, PPOParams(total_timesteps=128, n_steps=64, batch_size=32, n_epochs=1))
    assert list(tmp_path.iterdir()) == []
