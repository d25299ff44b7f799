"""VecEnv agent-steps/s next to pogema's on the same configuration, from Python.

Usage: python python/benchmarks/bench_vecenv.py [--config b256] [--episodes 64] [--seconds 3] [--raw]

Both sides get random actions drawn outside the timed region; only ``step`` is timed. pogema
runs one env (its usual use); rmapf runs a VecEnv of ``--episodes`` copies with different seeds.
With ``--raw``, rmapf runs what a pogema user's code runs instead: one ``rmapf.pogema_v0`` env
stepped with a list of actions, returning pogema's per-agent lists and observation dicts.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

CONFIGS = {
    "b64": dict(size=64, density=0.3, num_agents=64, obs_radius=5, on_target="finish", collision_system="priority",
                max_episode_steps=256),
    "b256": dict(size=64, density=0.3, num_agents=256, obs_radius=5, on_target="finish", collision_system="priority",
                 max_episode_steps=256),
    "x": dict(size=64, density=0.3, num_agents=256, obs_radius=5, on_target="restart", collision_system="soft",
              observation_type="POMAPF", max_episode_steps=256),
}


def bench_pogema(cfg, seconds, module="pogema"):
    """One ``pogema_v0`` env of ``module`` (pogema, or rmapf as its drop-in), stepped with lists."""
    import importlib

    pogema = importlib.import_module(module)
    env = pogema.pogema_v0(pogema.GridConfig(seed=42, **cfg))
    env.reset()
    rng = np.random.default_rng(0)
    n = cfg["num_agents"]
    steps, spent = 0, 0.0
    while spent < seconds:
        actions = rng.integers(0, 5, size=n).tolist()
        t = time.perf_counter()
        _, _, term, trunc, _ = env.step(actions)
        spent += time.perf_counter() - t
        steps += 1
        if all(term) or all(trunc):
            env.reset()
    return steps * n / spent


def bench_rmapf(cfg, episodes, threads, seconds):
    import rmapf

    vec = rmapf.VecEnv([rmapf.GridConfig(seed=42 + k, **cfg) for k in range(episodes)], threads=threads)
    vec.reset()
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 5, size=vec.num_agents) for _ in range(16)]
    steps, spent = 0, 0.0
    while spent < seconds:
        actions = pool[steps % len(pool)]
        t = time.perf_counter()
        vec.step(actions)
        spent += time.perf_counter() - t
        steps += 1
    return steps * vec.num_agents / spent


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="b256", choices=sorted(CONFIGS))
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--raw", action="store_true", help="time rmapf.pogema_v0 (lists and dicts), not the VecEnv")
    args = p.parse_args()
    cfg = CONFIGS[args.config]
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    base = bench_pogema(cfg, args.seconds)
    if args.raw:
        raw = bench_pogema(cfg, args.seconds, module="rmapf")
        print("| config | pogema agent-steps/s | rmapf.pogema_v0 agent-steps/s | ratio |")
        print("|---|---:|---:|---:|")
        print(f"| {args.config} | {base:,.0f} | {raw:,.0f} | {raw / base:.1f}x |")
        return
    print("| config | pogema agent-steps/s | rmapf VecEnv 1 thread | ratio | rmapf VecEnv 2 threads | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    one = bench_rmapf(cfg, args.episodes, 1, args.seconds)
    two = bench_rmapf(cfg, args.episodes, 2, args.seconds)
    print(f"| {args.config} ({args.episodes} episodes) | {base:,.0f} | {one:,.0f} | {one / base:.1f}x | {two:,.0f} | {two / base:.1f}x |")


if __name__ == "__main__":
    main()
