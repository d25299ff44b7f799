"""pogema 1.4.0's module paths on rmapf: the mirrored modules hold pogema's public names, the
metric wrappers and ``MultiTimeLimit`` give pogema's values step for step, and
``rmapf.install_as_pogema()`` runs code written for pogema unchanged."""
import importlib
import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rmapf
from conftest import random_config, scripted_actions
from rmapf.pogema_alias import POGEMA_MODULES
from rmapf.wrappers import metrics as rmapf_metrics
from rmapf.wrappers.multi_time_limit import MultiTimeLimit

#: pogema's public names that rmapf leaves out on purpose, by module, with the reason.
LEFT_OUT = {
    # pogema's Python generators and renderer: rmapf's bit-exact generator is in Rust, and
    # the lifelong goal streams live in the Rust core (README, "Deliberately different").
    "pogema.grid": {"generate_obstacles", "generate_positions_and_targets_fast", "get_components",
                    "generate_from_possible_positions", "render_grid"},
    "pogema.grid_config": {"CommonSettings"},  # the base class of pogema's config model
    "pogema.grid_registry": {"check_grid", "render_grid"},
    "pogema.a_star_policy": {"GridMemory", "Node", "h", "a_star"},  # the search runs in Rust
    # the env classes' common base (rmapf's is PogemaEnv); the lifelong goal streams are in Rust
    "pogema.envs": {"PogemaBase", "generate_from_possible_targets", "generate_new_target"},
    # the SVG drawer's internals and its command-line demo
    "pogema.svg_animation.animation_wrapper": {"SvgSettings", "GridHolder", "AnimationDrawer", "main"},
}

GOAL_METRICS = ["LifeLongAverageThroughputMetric", "NonDisappearCSRMetric", "NonDisappearISRMetric",
                "NonDisappearEpLengthMetric", "EpLengthMetric", "CSRMetric", "ISRMetric",
                "SumOfCostsAndMakespanMetric"]


def test_every_mirrored_module_holds_pogemas_public_names():
    pytest.importorskip("pogema")
    for alias, name in POGEMA_MODULES.items():
        theirs, ours = importlib.import_module(alias), importlib.import_module(name)
        public = {n for n, o in vars(theirs).items()
                  if not n.startswith("_") and (inspect.isclass(o) or inspect.isfunction(o))
                  and getattr(o, "__module__", "").startswith("pogema")}
        missing = public - set(dir(ours)) - LEFT_OUT.get(alias, set())
        assert not missing, f"{name} lacks {sorted(missing)} of {alias}"
        # The list of what is left out stays true.
        assert not LEFT_OUT.get(alias, set()) - public, alias


def stack(module, env, density):
    for name in GOAL_METRICS:
        env = getattr(module, name)(env)
    if density:
        env = module.AgentsDensityWrapper(env)
    return module.RuntimeMetricWrapper(env)


def test_metric_wrappers_report_pogemas_values_on_generated_configs():
    pogema = pytest.importorskip("pogema")
    from pogema.wrappers import metrics as pogema_metrics

    rng = np.random.default_rng(7)
    checked = 0
    for k in range(54):
        cfg = random_config(rng, k)
        density = cfg["observation_type"] != "default"
        try:
            theirs = stack(pogema_metrics, pogema.pogema_v0(pogema.GridConfig(**cfg)), density)
            theirs.reset(seed=cfg["seed"])
        except Exception:  # a task pogema cannot create (rmapf's parity tests cover the errors)
            continue
        ours = stack(rmapf_metrics, rmapf.pogema_v0(rmapf.GridConfig(**cfg)), density)
        ours.reset(seed=cfg["seed"])
        n = ours.get_num_agents()
        for _ in range(cfg["max_episode_steps"]):
            actions = scripted_actions(rng, n)
            *_, t_term, t_trunc, t_infos = theirs.step(list(actions))
            *_, o_term, o_trunc, o_infos = ours.step(list(actions))
            assert (list(o_term), list(o_trunc)) == (list(t_term), list(t_trunc)), (k, cfg)
            if all(t_term) or all(t_trunc):
                t_metrics, o_metrics = dict(t_infos[0]["metrics"]), dict(o_infos[0]["metrics"])
                assert isinstance(o_metrics.pop("runtime"), float) and t_metrics.pop("runtime") >= 0
                assert o_metrics == pytest.approx(t_metrics), (k, cfg)
                checked += 1
                break
    assert checked >= 30


#: The metric wrappers pogema stacks for each ``on_target`` mode (``pogema.envs._make_pogema``).
PER_MODE = {"finish": ["ISRMetric", "CSRMetric", "EpLengthMetric"],
            "nothing": ["NonDisappearISRMetric", "NonDisappearCSRMetric", "NonDisappearEpLengthMetric",
                        "SumOfCostsAndMakespanMetric"],
            "restart": ["LifeLongAverageThroughputMetric"]}


def test_metric_wrappers_agree_with_the_metrics_the_env_computes_itself():
    # Without pogema too (the latest Gymnasium's wrappers forward no attributes): the Python
    # wrappers of each mode recompute what the Rust env reports, and overwrite it with equal values.
    rng = np.random.default_rng(11)
    checked = 0
    for k in range(27):
        cfg = random_config(rng, k)
        try:
            plain = rmapf.pogema_v0(rmapf.GridConfig(**cfg))
            plain.reset(seed=cfg["seed"])
        except ValueError:
            continue
        wrapped = rmapf.pogema_v0(rmapf.GridConfig(**cfg))
        for name in PER_MODE[cfg["on_target"]]:
            wrapped = getattr(rmapf_metrics, name)(wrapped)
        wrapped.reset(seed=cfg["seed"])
        n = plain.get_num_agents()
        for _ in range(cfg["max_episode_steps"]):
            actions = scripted_actions(rng, n)
            *_, term, trunc, plain_infos = plain.step(list(actions))
            wrapped_infos = wrapped.step(list(actions))[-1]
            if all(term) or all(trunc):
                assert wrapped_infos[0]["metrics"] == pytest.approx(plain_infos[0]["metrics"]), (k, cfg)
                checked += 1
                break
    assert checked >= 20


def test_multi_time_limit_truncates_as_pogemas():
    pogema = pytest.importorskip("pogema")
    from pogema.wrappers.multi_time_limit import MultiTimeLimit as PogemaMultiTimeLimit

    cfg = dict(num_agents=3, size=6, seed=2, max_episode_steps=20)
    theirs = PogemaMultiTimeLimit(pogema.pogema_v0(pogema.GridConfig(**cfg)), max_episode_steps=4)
    ours = MultiTimeLimit(rmapf.pogema_v0(rmapf.GridConfig(**cfg)), max_episode_steps=4)
    theirs.reset(seed=2)
    ours.reset(seed=2)
    for _ in range(4):
        t = theirs.step([0, 0, 0])
        o = ours.step([0, 0, 0])
        assert (list(o[2]), list(o[3])) == (list(t[2]), list(t[3]))
    assert list(o[3]) == [True] * 3
    with pytest.raises(ValueError, match="non-persistent"):
        ours.set_elapsed_steps(1)
    persistent = MultiTimeLimit(rmapf.pogema_v0(rmapf.GridConfig(**cfg, persistent=True)), 4)
    with pytest.raises(AssertionError):  # pogema's contract (and a ValueError: rmapf's)
        persistent.set_elapsed_steps(-1)
    with pytest.raises(ValueError):
        persistent.set_elapsed_steps(-1)


def test_runtime_metric_counts_the_time_outside_the_env():
    env = rmapf_metrics.RuntimeMetricWrapper(rmapf.pogema_v0(rmapf.GridConfig(
        num_agents=2, size=5, seed=1, max_episode_steps=3)))
    env.reset()
    for _ in range(3):
        infos = env.step([0, 0])[-1]
    assert 0.0 <= infos[0]["metrics"]["runtime"] < 5.0


def run_as_pogema(code):
    """Runs ``code`` in a fresh interpreter after ``rmapf.install_as_pogema()``."""
    script = "import rmapf\nrmapf.install_as_pogema()\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_code_written_for_pogema_runs_unchanged_after_install_as_pogema():
    done = run_as_pogema("""
        from pogema import pogema_v0, GridConfig, BatchAStarAgent
        from pogema.a_star_policy import AStarAgent
        from pogema.integrations.sample_factory import AutoResetWrapper, MetricsForwardingWrapper
        from pogema.integrations.make_pogema import make_pogema
        from pogema.wrappers.metrics import RuntimeMetricWrapper
        from pogema.wrappers.multi_time_limit import MultiTimeLimit
        from pogema.envs import ActionsSampler, _make_pogema, CSRMetric
        import pogema, rmapf
        assert pogema is rmapf and make_pogema is rmapf.pogema_v0
        raw = _make_pogema(GridConfig(num_agents=2, size=5, seed=1))
        raw.reset()
        assert len(raw.step(list(ActionsSampler(5, seed=0).sample_actions(2)))[0]) == 2
        env = RuntimeMetricWrapper(pogema_v0(GridConfig(num_agents=4, size=8, seed=3, observation_type="POMAPF",
                                                        max_episode_steps=16)))
        obs, _ = env.reset()
        agent = BatchAStarAgent()
        while True:
            obs, rewards, terminated, truncated, infos = env.step(agent.act(obs))
            if all(terminated) or all(truncated):
                break
        print(sorted(infos[0]["metrics"]))
    """)
    assert done.returncode == 0, done.stderr
    assert "'runtime'" in done.stdout and "'CSR'" in done.stdout


#: One pogema-toolbox evaluation, written as the toolbox's users write it (its own env factory
#: ``create_env_base`` and config class ``Environment``); prints the results as JSON.
TOOLBOX_RUN = """
    import json, sys, warnings
    from pathlib import Path
    import yaml
    warnings.simplefilter("ignore")
    import pogema
    from pogema_toolbox.create_env import Environment, create_env_base
    from pogema_toolbox.evaluator import evaluation
    from pogema_toolbox.registry import ToolboxRegistry
    ToolboxRegistry.setup_logger("ERROR")
    ToolboxRegistry.register_maps(yaml.safe_load(Path(sys.argv[1]).read_text()))
    ToolboxRegistry.register_env("Environment", create_env_base, Environment)
    ToolboxRegistry.register_algorithm("A*", pogema.BatchAStarAgent)
    config = {"environment": {"name": "Environment", "on_target": "restart", "max_episode_steps": 64,
                              "observation_type": "POMAPF", "collision_system": "soft",
                              "seed": {"grid_search": [0, 1]}, "num_agents": {"grid_search": [8, 24]},
                              "map_name": {"grid_search": ["validation-mazes-seed-000"]}},
              "algorithms": {"A*": {"name": "A*", "parallel_backend": "sequential", "num_process": 1}}}
    print(json.dumps(evaluation(config, eval_dir=Path(sys.argv[2]))))
    print(pogema.__name__)
"""


def test_pogema_toolbox_runs_unchanged_on_rmapf_after_install_as_pogema(tmp_path):
    pytest.importorskip("pogema_toolbox")
    maps = Path(__file__).resolve().parents[2] / "maps/data/pogema-benchmark-lmapf/02-mazes/maps.yaml"
    runs = {}
    for backend, prefix in (("pogema", ""), ("rmapf", "import rmapf\nrmapf.install_as_pogema()\n")):
        script = prefix + textwrap.dedent(TOOLBOX_RUN)
        done = subprocess.run([sys.executable, "-c", script, str(maps), str(tmp_path / backend)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        results, module = done.stdout.strip().splitlines()[-2:]
        runs[backend] = (json.loads(results), module)
    assert runs["pogema"][1] == "pogema" and runs["rmapf"][1] == "rmapf"
    assert len(runs["rmapf"][0]) == 4 and runs["rmapf"][0] == runs["pogema"][0]


def test_install_as_pogema_refuses_when_pogema_is_already_imported():
    pytest.importorskip("pogema")
    script = "import pogema, rmapf\ntry:\n    rmapf.install_as_pogema()\nexcept ImportError as e:\n    print('refused:', e)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "refused: pogema is already imported" in done.stdout
