"""The residual policy: the last hours' deviations read only the past, the residual env
passes both `check_env`s and is the rule-based controller under a zero correction, the
agents act only where the rule may top up, a stored policy comes back as itself, and no
residual controller beats the LP."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from vpp.ml.rl.baselines import RuleBasedPolicy, solve_lp
from vpp.ml.rl.env import BatteryEnv, EnvConfig
from vpp.ml.rl.episodes import EpisodeSpec, load_home
from vpp.ml.rl.evaluate import LP_NAME, evaluate, run_episode
from vpp.ml.rl.hyperparams import ResidualPPOParams
from vpp.ml.rl.policy import SB3Policy, observation_size, rule_based
from vpp.ml.rl.recent import RECENT_H, RECENT_HISTORY_H, TYPICAL_DAYS, recent_deviation
from vpp.ml.rl.residual import (
    RESIDUAL_ENTRY,
    RESIDUAL_OBS_SIZE,
    ResidualEnv,
    ResidualPolicy,
    corrected,
    residual_observation,
)
from vpp.ml.rl.settings import RLSettings
from vpp.ml.rl.train import Trained, train

TINY = ResidualPPOParams(
    total_timesteps=1024, n_steps=256, batch_size=64, n_epochs=1, net_arch=[16], seeds=2
)


@pytest.fixture(scope="module")
def tiny(rl: RLSettings) -> Trained:
    return train(rl, TINY)


def residual_env(rl: RLSettings, scale: float = 0.3) -> ResidualEnv:
    config = EnvConfig.from_settings(rl, buildings=rl.train_buildings, months=rl.train_months)
    return ResidualEnv(BatteryEnv(config), rule_based(rl), scale)


# -- the last hours against a typical day ------------------------------------------------------


def test_a_deviation_is_the_hour_minus_its_weeks_mean() -> None:
    values = np.random.default_rng(1).random(RECENT_HISTORY_H + 50)
    end = len(values) - 3
    out = recent_deviation(values, end)
    assert out.shape == (RECENT_H,)
    for i, hour in enumerate(range(end - RECENT_H, end)):  # oldest first
        typical = np.mean([values[hour - 24 * d] for d in range(1, TYPICAL_DAYS + 1)])
        assert out[i] == pytest.approx(values[hour] - typical)


def test_a_deviation_reads_nothing_from_the_decisions_hour_on() -> None:
    values = np.random.default_rng(2).random(RECENT_HISTORY_H + 48)
    end = RECENT_HISTORY_H + 10
    before = recent_deviation(values, end)
    changed = values.copy()
    changed[end:] += 100.0
    assert np.array_equal(before, recent_deviation(changed, end))
    changed[end - 1] += 1.0  # the last complete hour does count
    assert recent_deviation(changed, end)[-1] == pytest.approx(before[-1] + 1.0)


def test_unknown_hours_deviate_by_nothing_and_leave_the_mean() -> None:
    values = np.ones(RECENT_HISTORY_H)
    values[-1] = np.nan  # the last hour not yet in the history
    values[-2] = 4.0
    values[-2 - 24] = np.nan  # one of its typical days unknown: the other six count
    values[-3] = 2.0
    values[-3 - 24 * np.arange(1, TYPICAL_DAYS + 1)] = np.nan  # no typical value at all
    out = recent_deviation(values, RECENT_HISTORY_H)
    assert out[-1] == 0.0
    assert out[-2] == pytest.approx(3.0)
    assert out[-3] == 0.0


def test_a_deviation_needs_a_week_and_the_recent_hours() -> None:
    with pytest.raises(ValueError, match=f"needs {RECENT_HISTORY_H} h"):
        recent_deviation(np.ones(500), RECENT_HISTORY_H - 1)


def test_the_env_observation_says_how_the_last_hours_went(rl: RLSettings) -> None:
    home = load_home(rl.data_dir, 12)
    row = 4000
    inp = home.observation_input(row, 0.4)
    assert inp.load_recent_dev_kw == recent_deviation(home.load_kw, row).tolist()
    assert inp.pv_recent_dev_kw == recent_deviation(home.pv_kw, row).tolist()
    before = residual_observation(inp, 0.2)
    future = replace(home, load_kw=np.where(np.arange(len(home.load_kw)) >= row, 9.0, home.load_kw))
    assert np.array_equal(before, residual_observation(future.observation_input(row, 0.4), 0.2))


def test_the_residual_observation_scales_deviations_by_the_battery_power(
    rl: RLSettings,
) -> None:
    inp = load_home(rl.data_dir, 12).observation_input(4000, 0.4)
    inp = inp.model_copy(
        update={"load_recent_dev_kw": [2.5] * RECENT_H, "pv_recent_dev_kw": [-500.0] * RECENT_H}
    )
    obs = residual_observation(inp, -0.25)
    assert obs.shape == (RESIDUAL_OBS_SIZE,)
    assert obs.dtype == np.float32
    base = obs.size - 1 - 2 * RECENT_H
    assert obs[base] == pytest.approx(-0.25)  # the rule's action
    assert obs[base + 1 : base + 1 + RECENT_H] == pytest.approx(2.5 / inp.max_power_kw)
    assert (obs[base + 1 + RECENT_H :] == -10.0).all()  # clipped like every other value


# -- the env -------------------------------------------------------------------------------------


def test_gymnasium_check_env_passes(rl: RLSettings) -> None:
    gym_check_env(residual_env(rl), skip_render_check=True)


def test_sb3_check_env_passes(rl: RLSettings) -> None:
    sb3_check_env(residual_env(rl), warn=True)


def test_a_zero_correction_is_the_rule_based_controller(
    rl: RLSettings, held_out: list[EpisodeSpec]
) -> None:
    spec = held_out[0]
    config = EnvConfig.from_settings(rl, buildings=[spec.building], months=[], episodes=[spec])
    rule = rule_based(rl)
    plain = run_episode(BatteryEnv(config), spec, lambda o, _t: rule.act(o), 0.3)
    wrapped = ResidualEnv(BatteryEnv(config), rule, 0.3)
    wrapped.reset(options={"episode": spec, "soc": 0.3})
    truncated = False
    while not truncated:
        _, _, _, truncated, _ = wrapped.step(np.zeros(1, dtype=np.float32))
    assert [r.battery_kw for r in wrapped.battery_env.history] == [r.battery_kw for r in plain]


def test_the_agent_moves_the_battery_only_where_the_rule_may_top_up(rl: RLSettings) -> None:
    env = residual_env(rl, scale=0.5)
    env.reset(seed=3)
    seen = {True: 0, False: 0}
    truncated = False
    while not truncated:
        inp = env.battery_env.observation_input()
        rule = env.rule.act(inp)
        may = env.rule.may_top_up(inp)
        seen[may] += 1
        _, _, _, truncated, info = env.step(np.ones(1, dtype=np.float32))
        record = info["record"]
        if may:  # the full correction: at least half the battery's power, a command
            assert not record.idle
            assert record.requested_kw == pytest.approx(min(rule + 0.5, 1.0) * inp.max_power_kw)
        else:  # the rule self-consumes there, whatever the agent asks
            assert rule == 0.0
            assert record.idle
    assert seen[True]
    assert seen[False]


def test_a_scale_outside_its_range_is_refused(rl: RLSettings) -> None:
    with pytest.raises(ValueError, match="scale"):
        residual_env(rl, scale=0.0)
    with pytest.raises(ValueError, match="residual_scale"):
        ResidualPPOParams(total_timesteps=10, residual_scale=1.5)


def test_corrected_clips_and_keeps_dear_hours() -> None:
    assert corrected(0.5, 1.0, 0.3, True) == pytest.approx(0.8)
    assert corrected(0.9, 1.0, 0.3, True) == 1.0
    assert corrected(0.0, -1.0, 0.3, False) == 0.0


# -- the policy ----------------------------------------------------------------------------------


def test_the_policy_is_the_rule_plus_its_agents_mean_correction(
    rl: RLSettings, tiny: Trained
) -> None:
    policy = tiny.policy
    assert isinstance(policy, ResidualPolicy)
    assert len(policy.models) == 2
    assert tiny.timesteps == 2 * TINY.total_timesteps
    rule = RuleBasedPolicy()
    home = load_home(rl.data_dir, 12)
    seen = {True: 0, False: 0}
    for row in range(4000, 4048):
        inp = home.observation_input(row, 0.2 + 0.01 * (row % 60))
        base = rule.act(inp)
        obs = residual_observation(inp, base)
        assert np.array_equal(policy.observe(inp), obs)
        may = rule.may_top_up(inp)
        seen[may] += 1
        expected = corrected(base, policy.mean_action(obs), TINY.residual_scale, may)
        assert policy.act(inp) == pytest.approx(expected, abs=1e-6)
        if not may:
            assert policy.act(inp) == base
    assert seen[True]
    assert seen[False]


def test_a_stored_residual_policy_comes_back_as_itself(rl: RLSettings, tiny: Trained) -> None:
    data = tiny.policy.to_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert json.loads(archive.read(RESIDUAL_ENTRY)) == {"scale": TINY.residual_scale}
    loaded = SB3Policy.from_bytes(data, "ppo_residual", "again", rl)
    assert isinstance(loaded, ResidualPolicy)
    assert loaded.scale == TINY.residual_scale
    assert loaded.observation_size == RESIDUAL_OBS_SIZE == observation_size("ppo_residual")
    home = load_home(rl.data_dir, 13)
    for row in range(3000, 3048):
        inp = home.observation_input(row, 0.1)
        assert loaded.act(inp) == pytest.approx(tiny.policy.act(inp), abs=1e-6)


def test_a_residual_file_with_a_broken_entry_is_refused(tiny: Trained) -> None:
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(tiny.policy.to_bytes())) as source,
        zipfile.ZipFile(buffer, "w") as target,
    ):
        for name in source.namelist():
            text = b"{}" if name == RESIDUAL_ENTRY else source.read(name)
            target.writestr(name, text)
    with pytest.raises(ValueError, match=f"{RESIDUAL_ENTRY} of broken is not readable"):
        SB3Policy.from_bytes(buffer.getvalue(), "ppo_residual", "broken")


def test_no_residual_controller_beats_the_lp(
    rl: RLSettings, held_out: list[EpisodeSpec], tiny: Trained
) -> None:
    tiny.policy.name = "residual-tiny"
    report = evaluate(rl, held_out, [tiny.policy])
    assert report.row("residual-tiny").objective >= report.row(LP_NAME).objective - 1e-6
    # A correction pushed to its limit every hour it may act.
    config = EnvConfig.from_settings(rl, buildings=[11], months=[], episodes=held_out)
    for spec in held_out[:3]:
        home = load_home(rl.data_dir, spec.building)
        best = solve_lp(
            home, spec, config.cost, initial_soc=rl.eval_initial_soc, soc_min=0.05, soc_max=0.95
        ).objective
        env = ResidualEnv(BatteryEnv(config), rule_based(rl), 1.0)
        env.reset(options={"episode": spec, "soc": rl.eval_initial_soc})
        truncated = False
        while not truncated:
            _, _, _, truncated, _ = env.step(np.ones(1, dtype=np.float32))
        assert sum(r.cost.objective for r in env.battery_env.history) >= best - 1e-6
