"""The env: gymnasium's and SB3's checks, physics limits, and the cost of a known hour."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from vpp.ml.forecast.citylearn import row_start
from vpp.ml.rl.env import BatteryEnv, EnvConfig
from vpp.ml.rl.episodes import EpisodeSpec
from vpp.ml.rl.observation import OBS_SIZE
from vpp.ml.rl.settings import RLSettings


def _env(rl: RLSettings, **kw: object) -> BatteryEnv:
    config = EnvConfig.from_settings(rl, buildings=rl.train_buildings, months=rl.train_months)
    for key, value in kw.items():
        object.__setattr__(config, key, value)
    return BatteryEnv(config)


def test_gymnasium_check_env_passes(rl: RLSettings) -> None:
    gym_check_env(_env(rl), skip_render_check=True)


def test_sb3_check_env_passes(rl: RLSettings) -> None:
    sb3_check_env(_env(rl), warn=True)


def test_episode_is_truncated_after_its_hours(rl: RLSettings) -> None:
    env = _env(rl)
    obs, info = env.reset(seed=3)
    assert obs.shape == (OBS_SIZE,)
    assert info["episode"].hours == rl.episode_hours
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        steps += 1
    assert steps == rl.episode_hours


def test_random_starts_stay_in_the_training_buildings_and_months(rl: RLSettings) -> None:
    env = _env(rl)
    for seed in range(30):
        _, info = env.reset(seed=seed)
        spec: EpisodeSpec = info["episode"]
        assert spec.building in rl.train_buildings
        for t in (0, spec.hours - 1):
            assert row_start(spec.start_row + t).month in rl.train_months


@pytest.mark.parametrize("action", [-1.0, 1.0, 0.37, -0.8])
def test_physics_limits_hold_whatever_the_agent_asks(rl: RLSettings, action: float) -> None:
    env = _env(rl)
    env.reset(seed=11, options={"soc": 0.5})
    assert env.battery is not None
    max_kw = env.battery.max_kw
    for _ in range(rl.episode_hours):
        before = env.battery.energy_kwh
        _, _, _, _, info = env.step(np.array([action], dtype=np.float32))
        record = info["record"]
        assert abs(record.battery_kw) <= max_kw + 1e-9
        assert rl.soc_min - 1e-9 <= record.soc_after <= rl.soc_max + 1e-9
        stored = env.battery.energy_kwh - before
        eff = env.battery.efficiency
        expected = record.battery_kw * (eff if record.battery_kw > 0 else 1 / eff)
        assert stored == pytest.approx(expected, abs=1e-6)
        # Zero export: the battery never pushes energy past the home's own load.
        home_net = record.cost.net_kw - record.battery_kw
        assert record.battery_kw >= -max(home_net, 0.0) - 1e-9


def test_out_of_range_action_is_clipped(rl: RLSettings) -> None:
    a, b = _env(rl), _env(rl)
    a.reset(seed=5, options={"soc": 0.5})
    b.reset(seed=5, options={"soc": 0.5})
    _, ra, *_ = a.step(np.array([7.0], dtype=np.float32))
    _, rb, *_ = b.step(np.array([1.0], dtype=np.float32))
    assert ra == rb


def test_an_exact_env_at_action_zero_is_the_no_battery_hour(rl: RLSettings) -> None:
    env = BatteryEnv(_env(rl).config.exact())
    env.reset(seed=2)
    for _ in range(24):
        _, reward, _, _, info = env.step(np.zeros(1, dtype=np.float32))
        assert reward == pytest.approx(0.0, abs=1e-12)
        assert info["record"].battery_kw == 0.0
        assert not info["record"].idle


def test_an_action_under_the_idle_band_self_consumes_like_the_home_node(rl: RLSettings) -> None:
    """No command: the battery stores the hour's actual PV surplus and covers its actual
    load, as `HomeNode` does with no command, within the battery's limits."""
    env = _env(rl)
    spec = EpisodeSpec(building=1, start_row=24 * 250, hours=48)  # April: sunny middays
    env.reset(options={"episode": spec, "soc": 0.5})
    assert env.home is not None
    assert env.battery is not None
    band = rl.idle_below_kw / env.battery.max_kw
    charged = covered = 0
    for t in range(spec.hours):
        row = spec.start_row + t
        net = env.home.load_kw[row] - env.home.pv_kw[row]
        before = env.battery.energy_kwh
        action = band * 0.99 * (1 if t % 2 else -1)
        _, _, _, _, info = env.step(np.array([action], dtype=np.float32))
        record = info["record"]
        assert record.idle
        assert info["refused_kw"] == 0.0  # a full or empty battery is no refusal here
        if abs(record.battery_kw + net) < 1e-9:  # within the limits: it met the home
            charged += net < 0
            covered += net > 0
        else:  # the battery was full, empty or at its power: never the other way
            assert record.battery_kw * -net >= 0
            assert abs(record.battery_kw) < abs(net)
        assert env.battery.energy_kwh != before or record.battery_kw == 0.0
    assert charged > 0
    assert covered > 0


def test_an_action_at_the_idle_band_is_a_command(rl: RLSettings) -> None:
    env = _env(rl)
    env.reset(seed=4, options={"soc": 0.5})
    assert env.battery is not None
    action = rl.idle_below_kw / env.battery.max_kw
    _, _, _, _, info = env.step(np.array([action], dtype=np.float32))
    assert not info["record"].idle
    assert info["record"].battery_kw == pytest.approx(rl.idle_below_kw)


@pytest.mark.parametrize(("kw_step", "min_kw"), [(1.0, 0.5), (0.3, 0.5), (0.5, 0.0)])
def test_the_idle_band_is_the_guards_smallest_command(
    rl: RLSettings, kw_step: float, min_kw: float
) -> None:
    """The live cycle sends nothing for an action the env self-consumes, and a command
    for one it applies: `smallest_command_kw` is where the guard starts sending, and the
    default env band is that of the default guard (`Settings` refuses any other pair)."""
    from vpp.optimize.guard import Guarded, GuardLimits, guard_fleet
    from vpp.optimize.settings import OptimizeSettings

    assert rl.idle_below_kw == OptimizeSettings().smallest_command_kw()
    o = OptimizeSettings(kw_step=kw_step, min_kw=min_kw)
    band = o.smallest_command_kw()
    limits = GuardLimits.from_settings(o)
    for kw, sent in ((band - 0.01, False), (band, True)):
        for sign in (1.0, -1.0):
            g = Guarded(dc_id="n", requested_kw=sign * kw, kw=sign * kw, changes=[])
            guard_fleet([g], limits)
            assert (g.kw != 0.0) is sent, kw


def test_hour_cost_matches_the_tariff(rl: RLSettings) -> None:
    env = BatteryEnv(_env(rl).config.exact())
    spec = EpisodeSpec(building=1, start_row=200, hours=24)
    env.reset(options={"episode": spec, "soc": rl.soc_min})
    _, _, _, _, info = env.step(np.zeros(1, dtype=np.float32))
    record = info["record"]
    assert env.home is not None
    net = env.home.load_kw[200] - env.home.pv_kw[200]
    price, carbon = env.home.price[200], env.home.carbon[200]
    assert record.cost.energy_cost == pytest.approx(price * max(net, 0.0))
    assert record.cost.emissions_kg == pytest.approx(carbon * max(net, 0.0))
    assert record.cost.objective == pytest.approx(
        (price + rl.carbon_price_per_kg * carbon) * max(net, 0.0)
    )


def test_step_before_reset_is_a_clear_error(rl: RLSettings) -> None:
    with pytest.raises(RuntimeError, match="reset"):
        _env(rl).step(np.zeros(1, dtype=np.float32))


def test_spaces(rl: RLSettings) -> None:
    env = _env(rl)
    assert isinstance(env.action_space, gym.spaces.Box)
    assert env.action_space.low.tolist() == [-1.0]
    assert env.action_space.high.tolist() == [1.0]
