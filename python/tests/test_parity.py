"""rmapf and pogema 1.4.0 give identical trajectories through the Python API."""
import copy

import numpy as np
import pytest

import rmapf
from conftest import random_config, same, scripted_actions

pogema = pytest.importorskip("pogema")

CASES = 120


def run(module, cfg, rng_seed):
    """Every output of a full episode (and a second reset) under scripted actions."""
    try:
        env = module.pogema_v0(module.GridConfig(**cfg))
        trace = []
        rng = np.random.default_rng(rng_seed)
        for _ in range(2):
            obs, infos = env.reset()
            trace.append(("reset", obs, infos, env.get_agents_xy(), env.get_targets_xy(ignore_borders=True)))
            n = len(obs)
            for _ in range(cfg["max_episode_steps"]):
                actions = scripted_actions(rng, n)
                obs, rew, term, trunc, infos = env.step(actions)
                trace.append((actions, obs, rew, term, trunc, infos, env.get_agents_xy(ignore_borders=True),
                              env.get_targets_xy()))
                if all(term) or all(trunc):
                    break
        return trace
    except Exception as e:  # both must fail alike
        return type(e)


@pytest.mark.parametrize("k", range(CASES))
def test_identical_trajectories(k):
    cfg = random_config(np.random.default_rng(1000 + k), k)
    assert_same_runs(run(pogema, cfg, k), run(rmapf, cfg, k), cfg)


def assert_same_runs(want, got, cfg):
    """Both runs failed, rmapf with (a subclass of) pogema's exception, or every entry of every
    step is equal."""
    if isinstance(want, type) or isinstance(got, type):
        assert isinstance(want, type) and isinstance(got, type), f"{cfg}: pogema {want!r:.80}, rmapf {got!r:.80}"
        assert issubclass(got, want), f"{cfg}: pogema raised {want.__name__}, rmapf {got.__name__}"
        return
    assert len(want) == len(got), cfg
    for t, (w, g) in enumerate(zip(want, got)):
        assert len(w) == len(g), f"step {t} of {cfg}"
        for field, (a, b) in enumerate(zip(w, g)):
            assert same(a, b), f"step {t}, entry {field} of {cfg}: pogema {a!r:.200}, rmapf {b!r:.200}"


def grid_trace(env):
    """Everything pogema's ``env.grid`` and the env's pogema-only accessors say about the state."""
    g = env.grid
    n = len(g.positions_xy)
    per_agent = [(g.get_obstacles_for_agent(i), g.get_positions(i), g.get_square_target(i), g.get_target(i),
                  g.on_goal(i)) for i in range(n)]
    # A deep copy: pogema returns its live arrays and lists, which later steps change.
    return copy.deepcopy((env.was_on_goal, env.get_agents_xy_relative(), env.get_targets_xy_relative(),
            list(g.positions_xy), list(g.finishes_xy), list(g.starts_xy), dict(g.is_active),
            g.obstacles, g.positions, g.get_obstacles(), g.get_obstacles(ignore_borders=True),
            g.get_agents_xy(ignore_borders=True), g.get_targets_xy(ignore_borders=True),
            g.get_agents_xy_relative(), g.get_observation_shape(), g.get_num_actions(), per_agent))


def run_grid(module, cfg, rng_seed):
    """``grid_trace`` after the reset and after every step of an episode under scripted actions."""
    try:
        env = module.pogema_v0(module.GridConfig(**cfg))
        assert env.grid is None and env.was_on_goal is None
        rng = np.random.default_rng(rng_seed)
        obs, _ = env.reset()
        trace = [grid_trace(env)]
        for _ in range(cfg["max_episode_steps"]):
            _, _, term, trunc, _ = env.step(scripted_actions(rng, len(obs)))
            trace.append(grid_trace(env))
            if all(term) or all(trunc):
                break
        return trace
    except Exception as e:  # both must fail alike
        return type(e)


@pytest.mark.parametrize("k", range(0, CASES, 2))
def test_the_grid_and_was_on_goal_equal_pogemas_at_every_step(k):
    """``env.grid`` (pogema's ``Grid``: what pogema-toolbox's ``ProvideGlobalObstacles`` and
    custom wrappers read), ``was_on_goal`` and the relative coordinates, step by step."""
    cfg = random_config(np.random.default_rng(1000 + k), k)
    assert_same_runs(run_grid(pogema, cfg, k), run_grid(rmapf, cfg, k), cfg)


def test_a_grid_from_a_config_is_pogemas_instance():
    cfg = dict(num_agents=6, size=9, density=0.3, seed=7, obs_radius=2)
    want, got = pogema.grid.Grid(pogema.GridConfig(**cfg)), rmapf.grid.Grid(rmapf.GridConfig(**cfg))
    assert same(want.get_obstacles(), got.get_obstacles())
    assert same(want.positions_xy, got.positions_xy) and same(want.finishes_xy, got.finishes_xy)


@pytest.mark.parametrize("k", range(0, CASES, 7))
def test_render_draws_pogemas_picture(k, capsys):
    """``render()`` prints pogema's text (its characters and ANSI colours) at every step;
    ``render(mode="ansi")`` returns it."""
    cfg = random_config(np.random.default_rng(1000 + k), k)
    try:
        envs = [m.pogema_v0(m.GridConfig(**cfg)) for m in (pogema, rmapf)]
        for env in envs:
            env.reset()
    except Exception:  # configs both reject are covered by test_identical_trajectories
        return
    rng = np.random.default_rng(k)
    for step in range(cfg["max_episode_steps"]):
        pictures = []
        for env in envs:
            assert env.render() is None
            pictures.append(capsys.readouterr().out)
        assert pictures[0] == pictures[1] == envs[1].render(mode="ansi"), f"step {step} of {cfg}"
        actions = scripted_actions(rng, envs[1].get_num_agents())
        for env in envs:
            env.step(list(actions))
