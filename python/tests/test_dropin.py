"""``import rmapf as pogema``: pogema 1.4.0's public names, integrations, mutable config, A* agents
and exception classes, each checked against pogema itself."""
import warnings

import gymnasium
import numpy as np
import pytest

import rmapf
from conftest import random_config, same

try:
    import pogema
except ImportError:  # the latest-releases stack has no pogema: only rmapf's own checks run there
    pogema = None
needs_pogema = pytest.mark.skipif(pogema is None, reason="compares with pogema 1.4.0 (the reference stack)")
warnings.filterwarnings("ignore", message=".*different components.*")


@needs_pogema
def test_every_public_name_of_pogema_is_there():
    for name in pogema.__all__:
        assert hasattr(rmapf, name), name
        assert name in rmapf.__all__, name


@pytest.mark.parametrize("k", range(0, 108, 3))
@needs_pogema
def test_resolved_fields_equal_pogemas(k):
    cfg = random_config(np.random.default_rng(1000 + k), k)
    try:
        want = pogema.GridConfig(**cfg).dict()
    except Exception as e:  # noqa: BLE001 - both must refuse alike
        with pytest.raises(type(e)):
            rmapf.GridConfig(**cfg)
        return
    got = rmapf.GridConfig(**cfg).dict()
    assert set(want) <= set(got), sorted(set(want) - set(got))
    for name, value in got.items():
        if name in want:
            assert same(_lists(want[name]), _lists(value)), name


def _lists(v):
    """Tuples as lists (pogema keeps pool cells as tuples, rmapf's JSON gives lists)."""
    if isinstance(v, (list, tuple)):
        return [_lists(x) for x in v]
    return v


def _rollout(module, gc, steps, seed):
    env = module.pogema_v0(gc)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset()
    trace = [obs]
    for _ in range(steps):
        out = env.step([int(a) for a in rng.integers(0, 5, size=len(obs))])
        trace.append(out)
        if all(out[2]) or all(out[3]):
            break
    return trace


@needs_pogema
def test_fields_set_after_construction_are_used_like_pogema():
    for module in (pogema, rmapf):
        gc = module.GridConfig(size=8, num_agents=2, seed=3, max_episode_steps=16)
        gc.num_agents = 5
        gc.collision_system = "soft"
        gc.seed = 11
    traces = []
    for module in (pogema, rmapf):
        gc = module.GridConfig(size=8, num_agents=2, seed=3, max_episode_steps=16)
        gc.num_agents, gc.collision_system, gc.seed = 5, "soft", 11
        traces.append(_rollout(module, gc, 16, 0))
    assert len(traces[0][0]) == 5 and same(traces[0], traces[1])


@needs_pogema
def test_a_field_changed_after_the_env_was_built_applies_at_the_next_reset():
    envs = []
    for module in (pogema, rmapf):
        gc = module.GridConfig(size=8, num_agents=2, seed=3)
        env = module.pogema_v0(gc)
        env.reset()
        gc.num_agents, gc.seed = 4, 7
        envs.append(env.reset()[0])
    assert len(envs[1]) == 4 and same(envs[0], envs[1])


def test_unknown_fields_are_refused_on_assignment():
    gc = rmapf.GridConfig()
    with pytest.raises(ValueError, match="no field"):
        gc.num_agent = 3
    with pytest.raises(ValueError, match="MOVES"):
        gc.MOVES = [[0, 0]]


def test_a_bad_value_set_later_is_a_clear_error_when_the_env_reads_it():
    gc = rmapf.GridConfig(size=8, num_agents=2, seed=0)
    env = rmapf.pogema_v0(gc)
    gc.obs_radius = 0
    with pytest.raises(ValueError, match="obs_radius"):
        env.reset()


HOSTILE = [
    dict(map="a.A\n.?."),
    dict(map="a.A\n...", agents_xy=[[0, 1]], targets_xy=[[1, 1]]),
    dict(map="a.A\n@.."),
    dict(size=4, agents_xy=[[5, 0]], targets_xy=[[0, 0]]),
    dict(size=4, agents_xy=[[0, 0]], targets_xy=[[9, 0]]),
    dict(size=4, num_agents=9, density=0.0),
    dict(size=4, num_agents=5, density=0.5, seed=0),
    dict(map="..\n..", num_agents=3),
    dict(size=4, agents_xy=[[0, 0], [1, 1]], targets_xy=[[2, 2]]),
    dict(size=4, agents_xy=[[0, 0]], targets_xy=[[2, 2]], num_agents=2),
    dict(auto_reset=True),
    dict(integration="PettingZoo", auto_reset=True),
]


@pytest.mark.parametrize("cfg", HOSTILE, ids=str)
@needs_pogema
def test_errors_are_pogemas_class_and_a_value_error(cfg):
    with pytest.raises(Exception) as theirs:
        pogema.pogema_v0(pogema.GridConfig(**cfg)).reset()
    with pytest.raises(ValueError) as ours:
        rmapf.pogema_v0(rmapf.GridConfig(**cfg)).reset()
    assert isinstance(ours.value, theirs.type), (theirs.value, ours.value)
    assert "'" not in str(ours.value)[:1]  # a sentence, not KeyError's quoted repr


def _pomapf_configs():
    rng = np.random.default_rng(7)
    for k in range(24):
        cfg = random_config(rng, k)
        cfg["observation_type"] = "POMAPF"
        cfg["max_episode_steps"] = 48
        yield k, cfg


@pytest.mark.parametrize("k, cfg", list(_pomapf_configs()))
@needs_pogema
def test_a_star_agents_choose_pogemas_actions(k, cfg):
    runs = []
    for module in (pogema, rmapf):
        try:
            env = module.pogema_v0(module.GridConfig(**cfg))
            obs, _ = env.reset()
        except Exception as e:  # noqa: BLE001 - both must refuse alike
            runs.append(type(e).__name__)
            continue
        agent = module.BatchAStarAgent()
        actions = []
        for _ in range(cfg["max_episode_steps"]):
            a = [int(x) for x in agent.act(obs)]
            actions.append(a)
            obs, _, term, trunc, _ = env.step(list(a))
            if all(term) or all(trunc):
                break
        runs.append(actions)
    if isinstance(runs[0], str):
        assert isinstance(runs[1], str)
        return
    assert runs[0] == runs[1], cfg


@needs_pogema
def test_a_star_agent_on_the_same_observations_and_its_errors():
    env = rmapf.pogema_v0(rmapf.GridConfig(size=12, density=0.3, num_agents=6, seed=5, observation_type="POMAPF",
                                           max_episode_steps=64))
    obs, _ = env.reset()
    ours, theirs = rmapf.BatchAStarAgent(), pogema.BatchAStarAgent()
    for _ in range(64):
        a, b = ours.act(obs), theirs.act(obs)
        assert [int(x) for x in a] == [int(x) for x in b]
        obs, _, term, trunc, _ = env.step([int(x) for x in a])
        if all(term) or all(trunc):
            break
    agent = rmapf.AStarAgent()
    agent.act(obs[0])
    jumped = dict(obs[0], xy=(obs[0]["xy"][0] + 3, obs[0]["xy"][1]))
    with pytest.raises(IndexError, match="more than 1 step"):
        agent.act(jumped)
    with pytest.raises(TypeError, match="POMAPF"):
        rmapf.AStarAgent().act(np.zeros((3, 11, 11)))
    far = {"xy": (2**40, 0), "target_xy": (0, 0), "obstacles": np.zeros((3, 3))}
    with pytest.raises(ValueError, match="coordinates must lie within"):
        rmapf.AStarAgent().act(far)
    with pytest.raises(ValueError, match="coordinates must lie within"):
        rmapf.BatchAStarAgent().act([far])


@needs_pogema
def test_sample_factory_integration_matches_pogema_step_by_step():
    traces = []
    for module in (pogema, rmapf):
        env = module.pogema_v0(module.GridConfig(integration="SampleFactory", size=8, num_agents=3, seed=2,
                                                 on_target="restart", max_episode_steps=10))
        assert env.is_multiagent and env.num_agents == 3
        rng = np.random.default_rng(0)
        obs, _ = env.reset()
        trace = [obs]
        for _ in range(25):  # two auto-resets
            out = env.step([int(a) for a in rng.integers(0, 5, size=3)])
            trace.append(out)
        traces.append(trace)
    assert same(traces[0], traces[1])
    stats = [info for (_, _, _, _, infos) in traces[1][1:] for info in infos if "episode_extra_stats" in info]
    assert len(stats) == 2 and "avg_throughput" in stats[0]["episode_extra_stats"]


def test_sample_factory_without_auto_reset():
    env = rmapf.pogema_v0(rmapf.GridConfig(integration="SampleFactory", auto_reset=False, num_agents=2, seed=1,
                                           max_episode_steps=3))
    env.reset()
    for _ in range(3):
        out = env.step([0, 0])
    assert all(out[3]) and "episode_extra_stats" in out[4][0]
    obs, _ = env.reset()
    assert len(obs) == 2


@needs_pogema
def test_pymarl_integration_matches_pogema():
    outs = []
    for module in (pogema, rmapf):
        env = module.pogema_v0(module.GridConfig(integration="PyMARL", size=6, num_agents=2, seed=4,
                                                 max_episode_steps=12))
        rng = np.random.default_rng(1)
        trace = [env.get_env_info(), env.reset(), env.get_obs(), env.get_state(), env.get_avail_actions()]
        done = False
        while not done:
            reward, done, info = env.step([int(a) for a in rng.integers(0, 5, size=2)])
            trace += [reward, done, info, env.get_obs(), env.get_state()]
        outs.append(trace)
    assert same(outs[0], outs[1])


def test_gymnasium_make_and_check_env_without_a_config_seed():
    from gymnasium.utils.env_checker import check_env

    # "Pogema-v0" is pogema's here (imported first); rmapf registers its own name as well.
    env = gymnasium.make("rmapf/Pogema-v0", grid_config=rmapf.GridConfig(num_agents=4, size=8))
    check_env(env, skip_render_check=True)
    # Same seed and actions, same trajectory: the instance and the other agents' actions.
    runs = []
    for _ in range(2):
        obs, _ = env.reset(seed=42)
        trace = [obs]
        for a in [1, 2, 3, 4, 0, 1, 1, 2]:
            trace.append(env.step(a)[0])
        runs.append(trace)
    assert same(runs[0], runs[1])


def test_animation_config_options(tmp_path):
    env = rmapf.AnimationMonitor(
        rmapf.pogema_v0(rmapf.GridConfig(num_agents=2, size=6, seed=4, max_episode_steps=6, on_target="finish")),
        rmapf.AnimationConfig(directory=str(tmp_path / "auto")))
    env.reset()
    for _ in range(6):
        env.step([0, 0])
    saved = list((tmp_path / "auto").iterdir())
    assert [p.name for p in saved] == ["pogema-ep00001-seed4.svg"]
    full = open(env.save_animation(str(tmp_path / "full.svg"))).read()
    static = open(env.save_animation(str(tmp_path / "static.svg"), rmapf.AnimationConfig(static=True))).read()
    bare = open(env.save_animation(str(tmp_path / "bare.svg"),
                                   rmapf.AnimationConfig(static=True, show_agents=False))).read()
    assert 'dur="1.75s"' in full and 'dur="0.25s"' in static and len(bare) < len(static)
    never = rmapf.AnimationMonitor(rmapf.pogema_v0(rmapf.GridConfig(num_agents=1, seed=0, max_episode_steps=2)),
                                   rmapf.AnimationConfig(directory=str(tmp_path / "never"),
                                                         save_every_idx_episode=None))
    never.reset()
    never.step([0])
    never.step([0])
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError, match="frame_idx"):
        env.save_animation(str(tmp_path / "x.svg"), rmapf.AnimationConfig(static=True, frame_idx=99))


def test_importing_rmapf_registers_pogema_v0(tmp_path):
    import subprocess
    import sys

    code = ("import gymnasium, rmapf; env = gymnasium.make('Pogema-v0', "
            "grid_config=rmapf.GridConfig(num_agents=2, seed=1)); obs, info = env.reset(); "
            "print(type(env.unwrapped).__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "rmapf.env"


@needs_pogema
def test_registered_maps_replace_the_obstacles_like_pogema():
    from pogema.grid_registry import RegisteredGrid as TheirGrid

    from rmapf.grid_registry import RegisteredGrid as OurGrid

    grid = ".....#....\n..#....#..\n....##....\n.#........\n....#..#..\n.........."
    name = "rmapf-test-registry"
    TheirGrid(name, grid)
    OurGrid(name, grid)
    for kw in (dict(num_agents=4, seed=3), dict(map="....\n....", num_agents=2, seed=1)):
        runs = []
        for module in (pogema, rmapf):
            gc = module.GridConfig(map_name=name, max_episode_steps=8, **kw)
            trace = _rollout(module, gc, 8, 0)
            env = module.pogema_v0(gc)
            env.reset()
            runs.append((trace, env.get_agents_xy(ignore_borders=True), env.get_obstacles(ignore_borders=True)))
        assert same(runs[0], runs[1]), kw
    for module, grid_class in ((pogema, TheirGrid), (rmapf, OurGrid)):
        with pytest.raises(ValueError, match="already registered"):
            grid_class(name, grid)
        with pytest.raises(KeyError):
            grid_class("rmapf-test-bad-symbol", "a.\n.?")
    with pytest.raises(KeyError, match="not found"):
        rmapf.grid_registry.get_grid("no-such-grid")


def _history(env):
    return [[str(s) for s in states] for states in env.get_history()]


def _outcome(call):
    """``call()``'s result, or its exception as (KeyError/ValueError/..., message)."""
    try:
        return ("ok", call())
    except (KeyError, ValueError, IndexError, AssertionError) as e:
        kind = next(c for c in (KeyError, IndexError, AssertionError, ValueError) if isinstance(e, c))
        return (kind.__name__, e.args[0] if e.args else "")


@pytest.mark.parametrize("k", range(120))
@needs_pogema
def test_persistent_history_and_step_back_match_pogema(k):
    """Random persistent episodes, stepped and rewound at random: the histories, positions,
    goals, activity and time limit after every call, and the exceptions pogema raises when a
    rewind cannot put an agent back, are pogema's."""
    rng = np.random.default_rng(9000 + k)  # seeds 9005, 9032, 9041, ... end in a failed rewind
    cfg = dict(random_config(rng, k), persistent=True)
    try:
        ref = pogema.pogema_v0(pogema.GridConfig(**cfg))
        ref.reset()
    except Exception:
        pytest.skip("pogema cannot build this config")
    env = rmapf.pogema_v0(rmapf.GridConfig(**cfg))
    env.reset()
    n = ref.get_num_agents()
    assert _history(env) == _history(ref)
    for _ in range(3 * cfg["max_episode_steps"]):
        if rng.random() < 0.35:
            got, want = _outcome(env.step_back), _outcome(ref.step_back)
        else:
            actions = [int(a) for a in rng.integers(0, 5, size=n)]
            got, want = _outcome(lambda: env.step(list(actions))[1:4]), _outcome(lambda: ref.step(list(actions))[1:4])
        assert got == want
        if got[0] != "ok":
            break  # pogema leaves the grid half rewound; so does rmapf, but the episode is over
        assert _history(env) == _history(ref)
        assert env.get_agents_xy() == ref.get_agents_xy()
        assert env.get_targets_xy() == ref.get_targets_xy()
        full = [[[str(s) for s in states] for states in e.get_full_history()] for e in (env, ref)]
        assert full[0] == full[1]
    assert _history(env) == _history(ref)


@needs_pogema
def test_a_failed_rewind_raises_pogemas_exception_and_leaves_pogemas_state():
    # soft collisions let agent 1 step into the cell agent 0 leaves in the same step, and pogema's
    # occupancy grid then marks a cell free under an agent (rmapf keeps that bug); two rewinds
    # later, pogema finds agent 1's cell free and refuses to move it.
    cfg = dict(map="....\n....", agents_xy=[[0, 0], [0, 1]], targets_xy=[[1, 3], [1, 2]], obs_radius=1,
               persistent=True, on_target="nothing", max_episode_steps=16, collision_system="soft")
    envs = [lib.pogema_v0(lib.GridConfig(**cfg)) for lib in (pogema, rmapf)]
    for e in envs:
        e.reset()
        e.step([2, 2])
        e.step([4, 1])
        assert e.step_back() is True
    assert _outcome(envs[0].step_back) == ("KeyError", "Agent 1 is not in the map")
    with pytest.raises(KeyError, match="Agent 1 is not in the map") as raised:
        envs[1].step_back()
    assert isinstance(raised.value, ValueError), "rmapf's errors are ValueErrors too"
    assert envs[0].get_agents_xy() == envs[1].get_agents_xy()
    assert _history(envs[0]) == _history(envs[1])


def test_persistent_methods_need_persistent_true():
    env = rmapf.pogema_v0(rmapf.GridConfig(num_agents=2, size=4, seed=1))
    env.reset()
    for call in (env.step_back, env.get_history, lambda: env.set_elapsed_steps(1)):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(AttributeError):
        env.step_back()
    env = rmapf.pogema_v0(rmapf.GridConfig(num_agents=2, size=4, seed=1, persistent=True))
    env.reset()
    assert env.step_back() is False
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error):
            env.set_elapsed_steps(bad)


def test_coordinate_tuples_are_exact_at_every_int32_extreme():
    # The raw env shares one tuple per coordinate pair between steps (python/src/rmapf/env.py,
    # _Pairs); the key packs both halves into one int.
    from rmapf.env import _Pairs

    xy = np.array([[-1, 5], [0, -1], [0, 0], [7, -3], [2**31 - 1, -(2**31)], [-(2**31), 2**31 - 1]], np.int32)
    pairs = _Pairs()
    got = pairs.of(xy)
    assert got == [tuple(map(int, row)) for row in xy]
    assert all(type(v) is int for p in got for v in p)
    assert pairs.of(xy)[0] is got[0], "made once, then shared"
    assert pairs.of(xy.astype(np.int64)) == got and pairs.of(np.asfortranarray(xy)) == got
    _Pairs.LIMIT, limit = 2, _Pairs.LIMIT
    try:
        assert pairs.of(xy[:1]) == [(-1, 5)], "a full table starts again"
        assert len(pairs) == 1
    finally:
        _Pairs.LIMIT = limit


@pytest.mark.parametrize("on_target", ["restart", "finish"])
def test_pogema_toolboxs_global_state_wrapper_reads_rmapf_as_it_reads_pogema(on_target):
    """pogema-toolbox's ``ProvideGlobalObstacles`` (what its centralised planners call every step)
    reads ``env.grid``: on rmapf it gives pogema's obstacles, positions and goals at every step."""
    pytest.importorskip("pogema")
    toolbox = pytest.importorskip("pogema_toolbox.create_env")
    fields = dict(num_agents=12, size=12, density=0.25, seed=3, obs_radius=3, on_target=on_target,
                  max_episode_steps=48, observation_type="POMAPF", collision_system="soft")
    config = toolbox.Environment(use_maps=False, **fields)
    want = toolbox.create_env_base(config)
    got = toolbox.ProvideGlobalObstacles(rmapf.pogema_v0(grid_config=config))
    rng = np.random.default_rng(0)
    want.reset(), got.reset()
    for step in range(fields["max_episode_steps"]):
        for name in ("get_global_obstacles", "get_global_agents_xy", "get_global_targets_xy"):
            assert same(getattr(want, name)(), getattr(got, name)()), f"{name} at step {step}"
        actions = [int(a) for a in rng.integers(0, 5, size=fields["num_agents"])]
        want.step(list(actions)), got.step(list(actions))


def test_goals_and_cells_set_through_the_grid_change_the_episode_as_in_pogema():
    """``grid.finishes_xy[i] = cell`` (how pogema's lifelong env assigns goals),
    ``move_agent_to_cell``, ``hide_agent`` and ``show_agent`` edit the episode as pogema's do."""
    pogema = pytest.importorskip("pogema")
    fields = dict(num_agents=6, size=10, density=0.2, seed=5, obs_radius=2, on_target="nothing",
                  max_episode_steps=40, observation_type="POMAPF")
    envs = [m.pogema_v0(m.GridConfig(**fields)) for m in (pogema, rmapf)]
    for env in envs:
        env.reset()
    r = fields["obs_radius"]
    free = [(int(x) + r, int(y) + r) for x, y in np.argwhere(envs[0].grid.get_obstacles(ignore_borders=True) == 0)]
    occupied = set(envs[0].grid.positions_xy) | set(envs[0].grid.finishes_xy)
    a, b = [c for c in free if c not in occupied][:2]
    rng = np.random.default_rng(1)
    for step in range(fields["max_episode_steps"]):
        actions = [int(x) for x in rng.integers(0, 5, size=fields["num_agents"])]
        outs = [env.step(list(actions)) for env in envs]
        assert same(outs[0], outs[1]), f"step {step}"
        grids = [env.grid for env in envs]
        edit = {3: lambda g: g.finishes_xy.__setitem__(0, a), 6: lambda g: g.hide_agent(1),
                9: lambda g: g.move_agent_to_cell(1, *b), 10: lambda g: g.show_agent(1),
                12: lambda g: g.move_agent_to_cell(2, *b)}.get(step)
        if edit:
            results = []
            for g in grids:
                try:
                    results.append(edit(g))
                except (KeyError, ValueError) as e:  # pogema's errors: a hidden agent, a blocked cell
                    results.append(KeyError if isinstance(e, KeyError) else ValueError)
            assert results[0] == results[1], f"step {step}: pogema {results[0]}, rmapf {results[1]}"
        assert same(grids[0].finishes_xy, grids[1].finishes_xy) and same(grids[0].positions, grids[1].positions)


def test_bad_edits_of_the_grid_are_clear_errors():
    env = rmapf.pogema_v0(rmapf.GridConfig(num_agents=2, size=6, seed=1))
    assert env.grid is None and env.was_on_goal is None
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.check_reset()
    env.reset()
    g = env.grid
    for bad in ("ab", (1.5, 2), (True, 1), (1, 2, 3)):
        with pytest.raises(TypeError, match="pair of integers"):
            g.finishes_xy[0] = bad
    with pytest.raises(IndexError):
        g.finishes_xy[5] = (1, 1)
    with pytest.raises(TypeError, match="one item"):
        g.positions_xy.append((1, 1))
    with pytest.raises(TypeError, match="integer index"):
        g.hide_agent(True)
    with pytest.raises(NotImplementedError, match="env.step"):
        g.move(0, 1)
    with pytest.raises(ValueError, match="read-only"):
        g.obstacles[0, 0] = 1
    with pytest.raises(TypeError):
        g.is_active[0] = False
    with pytest.raises(ValueError, match="num_retries"):
        rmapf.grid.Grid(rmapf.GridConfig(num_agents=2, size=6, seed=1), num_retries=-3)


def _grid_or_error(module, config, retries):
    try:
        grid = module.grid.Grid(module.GridConfig(**config), num_retries=retries)
    except OverflowError:  # rmapf's TaskError is one
        return "OverflowError"
    return [tuple(xy) for xy in grid.positions_xy], [tuple(xy) for xy in grid.finishes_xy]


@needs_pogema
@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_grid_num_retries_as_pogemas_for_seeded_instances(seed):
    """A seeded instance is drawn the same way every time, so any retry count gives pogema's
    outcome: the same starts and goals, or the same failure."""
    import pogema.grid  # noqa: F401 - pogema.grid.Grid

    config = dict(seed=seed, size=4, density=0.3, num_agents=6, obs_radius=2)
    for retries in (0, 10, 10_000):
        assert _grid_or_error(rmapf, config, retries) == _grid_or_error(pogema, config, retries)


def test_unseeded_grids_draw_again_and_warn_as_pogemas():
    config = rmapf.GridConfig(size=4, density=0.3, num_agents=6, obs_radius=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(200):
            rmapf.grid.Grid(config, num_retries=10_000)  # never fails: 10,000 fresh draws
    said = {str(w.message) for w in caught}
    assert said and all(s.startswith("Created valid configuration only with ") for s in said)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(50):
            try:
                rmapf.grid.Grid(config, num_retries=0)
            except OverflowError:
                pass
    assert not caught, "without retries nothing is drawn again"
    for bad, error in [(1.5, TypeError), (True, TypeError), ("3", TypeError), (-1, ValueError)]:
        with pytest.raises(error, match="num_retries"):
            rmapf.grid.Grid(config, num_retries=bad)
    rmapf.grid.Grid(rmapf.GridConfig(seed=0, size=8), num_retries=np.int64(3))


@pytest.mark.parametrize("cls", ["Pogema", "PogemaLifeLong", "PogemaCoopFinish"])
@pytest.mark.parametrize("k", range(0, 108, 7))
@needs_pogema
def test_raw_env_classes_step_as_pogemas(cls, k):
    # pogema.envs' raw classes force their on-target rules, have no time limit and report no
    # metrics: run them past the config's max_episode_steps on generated configs of every rule.
    import pogema.envs
    import rmapf.envs
    from conftest import scripted_actions

    cfg = random_config(np.random.default_rng(2000 + k), k)
    if cls == "PogemaLifeLong" and any(c.isalpha() for c in cfg.get("map", "")):
        # A letter map's single goals under the lifelong rules: pogema fails with a TypeError at
        # the first arrival ('int' object is not subscriptable), rmapf at reset with a clear error.
        with pytest.raises(ValueError, match="requires goal sequences"):
            rmapf.envs.PogemaLifeLong(grid_config=rmapf.GridConfig(**cfg)).reset()
        return
    try:
        theirs = getattr(pogema.envs, cls)(grid_config=pogema.GridConfig(**cfg))
        want = [theirs.reset()]
    except Exception as e:  # noqa: BLE001 - both must refuse alike
        with pytest.raises(type(e)):
            getattr(rmapf.envs, cls)(grid_config=rmapf.GridConfig(**cfg)).reset()
        return
    ours = getattr(rmapf.envs, cls)(grid_config=rmapf.GridConfig(**cfg))
    got = [ours.reset()]
    n = ours.get_num_agents()
    rng_a, rng_b = np.random.default_rng(k), np.random.default_rng(k)
    for _ in range(cfg["max_episode_steps"] + 8):
        want.append(theirs.step(scripted_actions(rng_a, n)))
        got.append(ours.step(scripted_actions(rng_b, n)))
    assert same(got, want)
    assert not any(any(step[3]) for step in got[1:]), "no time limit"


@needs_pogema
def test_goal_sequences_advance_and_warn_as_pogemas():
    import pogema.envs
    import rmapf.envs

    def run(module, make):
        config = module.GridConfig(width=8, height=8, agents_xy=[[1, 1], [1, 2]],
                                   targets_xy=[[[2, 2], [3, 3], [4, 4]], [[2, 4], [3, 5]]],
                                   on_target="restart", density=0, seed=0, observation_type="POMAPF")
        env = make(module, config)
        obs, _ = env.reset()
        agents = [module.AStarAgent() for _ in range(2)]
        seen = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(40):
                obs, rewards, *_ = env.step([a.act(o) for a, o in zip(agents, obs)])
                seen.append((list(env.unwrapped.current_goal_indices), rewards))
        cycling = [str(w.message) for w in caught if "cycling back" in str(w.message)]
        return seen, cycling, env.unwrapped.has_custom_sequences if hasattr(env.unwrapped, "has_custom_sequences") else None

    for make in (lambda m, c: m.envs.PogemaLifeLong(grid_config=c), lambda m, c: m.pogema_v0(c)):
        want, got = run(pogema, make), run(rmapf, make)
        assert got == want
        assert len(got[1]) >= 2 and max(max(i) for i, _ in got[0]) == 2


@pytest.mark.parametrize("kind", ["random", "pools", "sequences"])
@needs_pogema
def test_goals_drawn_by_hand_keep_pogemas_stream(kind):
    # PogemaLifeLong._generate_new_target called by hand draws from the agent's stream without
    # assigning the goal; the arrivals after it then draw what pogema's do.
    import pogema.envs
    import rmapf.envs

    config = dict(on_target="restart", seed=5, max_episode_steps=64, observation_type="POMAPF")
    if kind == "random":
        config.update(size=8, density=0.2, num_agents=3)
    elif kind == "pools":
        config.update(map="..@.$\n.#.$.\n@..$.\n.$.@.", num_agents=3)
    else:
        config.update(width=8, height=8, density=0, agents_xy=[[1, 1], [1, 2]],
                      targets_xy=[[[2, 2], [3, 3], [4, 4]], [[2, 4], [3, 5]]])

    def run(module):
        env = module.envs.PogemaLifeLong(grid_config=module.GridConfig(**config))
        obs, _ = env.reset()
        drawn = [env._generate_new_target(i) for i in (0, 1, 0)]
        agents = [module.AStarAgent() for _ in obs]
        trace = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(48):
                obs, rewards, *_ = env.step([a.act(o) for a, o in zip(agents, obs)])
                trace.append((rewards, env.get_targets_xy(), list(env.current_goal_indices)))
        return drawn, trace

    want, got = run(pogema), run(rmapf)
    assert all(isinstance(t, tuple) and len(t) == 2 for t in got[0])
    assert same(got, want)


@pytest.mark.parametrize("k", range(0, 108, 9))
@needs_pogema
def test_lifelong_grid_equals_pogemas(k):
    from pogema.grid import GridLifeLong as Theirs
    from rmapf.grid import GridLifeLong as Ours

    cfg = random_config(np.random.default_rng(3000 + k), k)

    def build(cls, module):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            grid = cls(module.GridConfig(**cfg))
        return grid, [(w.category, str(w.message)) for w in caught if "different components" in str(w.message)]

    try:
        theirs, their_warnings = build(Theirs, pogema)
    except Exception as e:  # noqa: BLE001 - both must refuse alike
        with pytest.raises(type(e)):
            build(Ours, rmapf)
        return
    ours, our_warnings = build(Ours, rmapf)
    assert ours.positions_xy == theirs.positions_xy
    assert ours.finishes_xy == theirs.finishes_xy
    assert np.array_equal(ours.obstacles, theirs.obstacles)
    # The component tables pogema's goal generator reads, and its warning per agent whose goal
    # lies in another component (random configs with custom cells have some).
    assert ours.point_to_component == theirs.point_to_component
    assert dict(ours.component_to_points) == dict(theirs.component_to_points)
    assert our_warnings == their_warnings


@needs_pogema
def test_a_goal_in_another_component_warns_at_each_lifelong_reset_as_pogemas():
    def run(module):
        config = module.GridConfig(map="..#..\n..#..", agents_xy=[(0, 0), (1, 1)],
                                   targets_xy=[[(0, 4), (1, 4)], [(1, 0), (0, 1)]], on_target="restart",
                                   obs_radius=2, max_episode_steps=8, seed=1)
        env = module.pogema_v0(config)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                env.reset()
                for _ in range(3):
                    rewards = env.step([0, 0])[1]
        return [(w.category, str(w.message)) for w in caught], env.grid.finishes_xy, rewards

    want, got = run(pogema), run(rmapf)
    assert got == want
    assert got[0] == [(Warning, "The start point (2, 2) and the goal (2, 6) are in different components. "
                       "The goal is changed.")] * 2


def _persistent_run(module, wrapper, k, persistent):
    """A wrapped env's history and, where it rewinds, its grid after three steps back."""
    config = module.GridConfig(size=8, density=0.2, num_agents=4, seed=k, max_episode_steps=16,
                               on_target=("finish", "restart", "nothing")[k % 3], persistent=persistent)
    env = wrapper(module.pogema_v0(config), xy_offset=-2 if k == 0 else None)
    env.reset()
    rng = np.random.default_rng(k)
    for _ in range(12):
        env.step(rng.integers(5, size=4).tolist())
    history = [[str(s) for s in states] for states in env.get_history()]
    full = [[str(s) for s in states] for states in env.get_full_history()]
    decompressed = [[str(s) for s in states] for states in env.decompress_history(env.get_history())]
    if k == 0:  # pogema's wrapper rewinds to the shifted cells (rmapf's documented difference)
        return history, full, decompressed
    try:
        rewound = [env.step_back() for _ in range(3)]
        after = (rewound, env.unwrapped.grid.positions_xy, env.unwrapped.grid.finishes_xy,
                 [[str(s) for s in states] for states in env.get_history()])
    except ValueError as e:
        after = str(e)
    return history, full, decompressed, after


@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("k", range(4))
@needs_pogema
def test_persistent_wrapper_records_and_rewinds_as_pogemas(k, persistent):
    from pogema.wrappers.persistence import PersistentWrapper as Theirs

    from rmapf.wrappers.persistence import PersistentWrapper as Ours

    want, got = _persistent_run(pogema, Theirs, k, persistent), _persistent_run(rmapf, Ours, k, persistent)
    assert got == want
    assert len(got[0][0]) > 1
    if k and not persistent:
        assert got[3] == "Cannot set elapsed steps for non-persistent environment!"


def test_persistent_wrapper_rewinds_a_persistent_env_to_its_recorded_cells():
    from rmapf.wrappers.persistence import PersistentWrapper

    env = PersistentWrapper(rmapf.pogema_v0(rmapf.GridConfig(size=8, density=0.2, num_agents=3, seed=1,
                                                             persistent=True, max_episode_steps=32)))
    env.reset()
    seen = [env.unwrapped.grid.positions_xy]
    for action in ([1, 2, 3], [4, 1, 2], [2, 2, 4]):
        env.step(action)
        seen.append(env.unwrapped.grid.positions_xy)
    for t in (2, 1, 0):
        assert env.step_back()
        assert env.unwrapped.grid.positions_xy == seen[t]
    assert not env.step_back()
    assert [len(states) for states in env.get_full_history()] == [1, 1, 1]
    fresh = PersistentWrapper(rmapf.pogema_v0(rmapf.GridConfig(num_agents=2, seed=1, persistent=True)))
    for call in (fresh.step_back, fresh.get_history, fresh.get_full_history, lambda: fresh.step([0, 0])):
        with pytest.raises(RuntimeError, match="reset"):
            call()


@pytest.mark.parametrize("kind,planes", [("follower", 3), ("follower_intents", 4), ("follower_priorities", 5)])
def test_follower_observations_are_signed_arrays(kind, planes):
    # rmapf's own observation types through the pogema API: [C, R, R] float32 arrays of the
    # simulator's i8 values (obstacles -1, path +1), inside the observation space.
    config = rmapf.GridConfig(num_agents=6, size=8, density=0.3, seed=3, obs_radius=3,
                              observation_type=kind, on_target="restart", path_planner="follower")
    env = rmapf.pogema_v0(config)
    obs, _ = env.reset()
    batch = rmapf.VecEnv([config])
    raw = batch.reset()
    for _ in range(5):
        assert len(obs) == 6 and all(o.shape == (planes, 7, 7) and o.dtype == np.float32 for o in obs)
        assert all(env.observation_space.contains(o) for o in obs)
        assert np.array_equal(np.stack(obs), raw.view(np.int8).astype(np.float32))
        assert min(o.min() for o in obs) == -1.0 and max(o[0].max() for o in obs) == 1.0
        actions = [int(a) for a in np.random.default_rng(len(obs)).integers(0, 5, size=6)]
        obs, *_ = env.step(list(actions))
        raw = batch.step(np.array(actions))[0]
