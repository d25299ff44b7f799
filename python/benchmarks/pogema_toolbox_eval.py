"""pogema-toolbox 0.1.1 (the POGEMA benchmark's own evaluator) with rmapf as its environment.

Runs one evaluation config twice through ``pogema_toolbox.evaluator.evaluation``: once on pogema
1.4.0 (the toolbox's own ``create_env_base``), once on rmapf (the same toolbox wrappers,
``ProvideGlobalObstacles`` and ``MultiMapWrapper``, around ``rmapf.pogema_v0``). Each backend's
own ``BatchAStarAgent`` acts. Checks that the two result files and the toolbox's tables are equal,
and prints both wall times and their ratio. With ``--repeat N`` the two backends alternate N times
(results checked every time) and the medians are compared, for a VM whose speed drifts.

    python python/benchmarks/pogema_toolbox_eval.py --out target/toolbox [--maps 2] [--seeds 2] [--repeat 3]
    python python/benchmarks/pogema_toolbox_eval.py --out target/toolbox --experiment --policies 'A*'

``--experiment`` runs the benchmark's own ``02-mazes.yaml`` (all 768 episodes); ``--slices K`` cuts
the maps into K runs that alternate between the backends (times summed, results joined and tabled
once per backend), so that the VM's drift over minutes slows both alike.

Exit status 1 when the results differ. Needs ``pip install pogema-toolbox==0.1.1`` beside pogema
1.4.0 (the reference stack).
"""
import argparse
import copy
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import yaml
from pogema_toolbox.create_env import Environment, MultiMapWrapper, ProvideGlobalObstacles
from pogema_toolbox.create_env import create_env_base as pogema_env
from pogema_toolbox.evaluator import evaluation
from pogema_toolbox.registry import ToolboxRegistry
from pogema_toolbox.views.view_tabular import TabularView, preprocess_table

import pogema
import rmapf

MAPS = Path(__file__).resolve().parents[2] / "maps" / "data" / "pogema-benchmark-lmapf"
BACKENDS = ("pogema", "rmapf")


def rmapf_env(config):
    """pogema-toolbox's ``create_env_base`` with rmapf in place of pogema: the toolbox's own
    wrappers around ``rmapf.pogema_v0`` (which takes the toolbox's config object as it is)."""
    env = rmapf.pogema_v0(grid_config=config)
    env = ProvideGlobalObstacles(env)
    if config.use_maps:
        env = MultiMapWrapper(env)
    return env


def evaluation_config(maps, seeds, agents, steps, policy):
    """A small slice of the benchmark's 02-mazes experiment (the toolbox's YAML format)."""
    names = [f"validation-mazes-seed-{i:03d}" for i in range(maps)]
    return {
        "environment": {
            "name": "Environment",
            "on_target": "restart",
            "max_episode_steps": steps,
            "observation_type": "POMAPF",
            "collision_system": "soft",
            "seed": {"grid_search": list(range(seeds))},
            "num_agents": {"grid_search": agents},
            "map_name": {"grid_search": names},
        },
        "algorithms": {policy: {"name": policy, "parallel_backend": "sequential", "num_process": 1}},
    }


def experiment_config(policy):
    """The POGEMA benchmark's 02-mazes experiment as shipped (its environment section: 128 maps x
    6 agent counts, 128 steps), evaluated with ``policy`` in place of its algorithms."""
    experiment = yaml.safe_load((MAPS / "02-mazes" / "02-mazes.yaml").read_text())
    return {
        "environment": experiment["environment"],
        "algorithms": {policy: {"name": policy, "parallel_backend": "sequential", "num_process": 1}},
    }


class RandomAgent:
    """Uniform random actions from a fixed seed (so both backends see the same actions)."""

    def __init__(self, *_):
        self.reset_states()

    def act(self, observations):
        return [int(a) for a in self._rng.integers(0, 5, size=len(observations))]

    def reset_states(self):
        import numpy as np

        self._rng = np.random.default_rng(0)


def evaluate(backend, config, out):
    """pogema-toolbox's ``evaluation`` of ``config`` on ``backend``; returns (results, seconds)."""
    module = pogema if backend == "pogema" else rmapf
    ToolboxRegistry.register_env("Environment", pogema_env if backend == "pogema" else rmapf_env, Environment)
    ToolboxRegistry.register_algorithm("A*", module.BatchAStarAgent)
    ToolboxRegistry.register_algorithm("random", RandomAgent)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = evaluation(config, eval_dir=out / backend)
    return results, time.perf_counter() - start


def table(results):
    """The toolbox's own table of ``results`` (its tabular view, seeds dropped); returns (text, seconds)."""
    start = time.perf_counter()
    text = preprocess_table(results, TabularView(type="tabular", drop_keys=["seed"])).to_string()
    return text, time.perf_counter() - start


def run(backend, config, out):
    """One toolbox evaluation on ``backend``; returns (results, the toolbox's table, seconds)."""
    results, seconds = evaluate(backend, config, out)
    text, table_seconds = table(results)
    return results, text, seconds + table_seconds


def run_sliced(config, slices, out):
    """``config`` end to end on both backends, its maps cut into ``slices`` runs that alternate
    between the backends (which one goes first alternates too), so that a VM whose speed drifts
    over minutes slows both alike. Each backend's results are joined and tabled once; its time is
    the sum of its slices plus its table. Returns ({backend: (results, table, seconds)}, the
    ratio pogema / rmapf of each slice)."""
    names = config["environment"]["map_name"]["grid_search"]
    size = -(-len(names) // slices)
    results = {backend: [] for backend in BACKENDS}
    seconds = dict.fromkeys(BACKENDS, 0.0)
    ratios = []
    for k, start in enumerate(range(0, len(names), size)):
        part = copy.deepcopy(config)
        part["environment"]["map_name"]["grid_search"] = names[start:start + size]
        took = {}
        for backend in BACKENDS if k % 2 == 0 else BACKENDS[::-1]:
            got, took[backend] = evaluate(backend, part, out / f"slice-{k}")
            results[backend] += got
            seconds[backend] += took[backend]
        ratios.append(took["pogema"] / took["rmapf"])
    out_of = {}
    for backend in BACKENDS:
        text, table_seconds = table(results[backend])
        out_of[backend] = (results[backend], text, seconds[backend] + table_seconds)
    return out_of, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the toolbox's result files")
    parser.add_argument("--maps", type=int, default=2, help="mazes maps (1-128)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per map and agent count")
    parser.add_argument("--agents", default="8,32", help="agent counts, comma-separated")
    parser.add_argument("--steps", type=int, default=128, help="episode length")
    parser.add_argument("--policies", default="A*,random", help="A* and/or random, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each backend, alternating (medians compared)")
    parser.add_argument("--experiment", action="store_true",
                        help="the benchmark's own 02-mazes.yaml (768 episodes of 128 steps) in place of "
                             "the slice that --maps, --seeds, --agents and --steps describe")
    parser.add_argument("--slices", type=int, default=1,
                        help="cut the maps into this many runs alternating between the backends (their "
                             "times summed, results joined; for a VM whose speed drifts)")
    args = parser.parse_args()
    try:
        agents = [int(a) for a in args.agents.split(",")]
    except ValueError:
        parser.error("--agents must be comma-separated integers")
    policies = args.policies.split(",")
    if not 1 <= args.maps <= 128 or min(args.seeds, args.steps, args.repeat, args.slices, *agents) < 1:
        parser.error("--maps must be in 1..128, and --seeds, --steps, --repeat, --slices and --agents positive")
    if not set(policies) <= {"A*", "random"}:
        parser.error("--policies takes A* and random")
    ToolboxRegistry.setup_logger("ERROR")  # not its warning at each re-registration of a backend
    ToolboxRegistry.register_maps(yaml.safe_load((MAPS / "02-mazes" / "maps.yaml").read_text()))
    ok = True
    for policy in policies:
        config = (experiment_config(policy) if args.experiment
                  else evaluation_config(args.maps, args.seeds, agents, args.steps, policy))
        times = {"pogema": [], "rmapf": []}
        outputs = {}
        out = args.out / policy.replace("*", "star")
        for _ in range(args.repeat):
            if args.slices > 1:
                runs, ratios = run_sliced(config, args.slices, out)
                print(f"{policy}: pogema / rmapf by slice: {', '.join(f'{r:.1f}x' for r in ratios)}")
            else:
                runs = {backend: run(backend, config, out) for backend in BACKENDS}
            for backend, (results, printed, seconds) in runs.items():
                times[backend].append(seconds)
                if outputs.setdefault(backend, (results, printed)) != (results, printed):
                    print(f"{backend} gave different results when run again")
                    ok = False
        same = outputs["pogema"] == outputs["rmapf"]
        ok &= same
        print(outputs["rmapf"][1].strip())
        episodes = len(outputs["rmapf"][0])
        median = {k: statistics.median(v) for k, v in times.items()}
        runs = "" if args.repeat == 1 else (
            f" (median of {args.repeat}, alternating; pogema "
            f"{', '.join(f'{t:.2f}' for t in times['pogema'])} s, rmapf "
            f"{', '.join(f'{t:.2f}' for t in times['rmapf'])} s)")
        print(f"{policy}: {episodes} episodes; results {'EQUAL' if same else 'DIFFERENT'}; "
              f"pogema {median['pogema']:.2f} s, rmapf {median['rmapf']:.2f} s, "
              f"{median['pogema'] / median['rmapf']:.1f}x{runs}")
        if not same:
            for a, b in zip(outputs["pogema"][0], outputs["rmapf"][0]):
                if a != b:
                    print("first difference:", json.dumps(a), json.dumps(b), sep="\n  ")
                    break
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
