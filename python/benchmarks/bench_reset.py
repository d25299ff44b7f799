"""Reset time against the agent count: a random map with about four free cells per agent,
radius 2, seed 0; prints seconds for the raw env's reset (which also builds the per-agent
observation list) and VecEnv's (arrays only).

    python python/benchmarks/bench_reset.py [--agents 10000,100000,300000]
"""
import argparse
import time

import rmapf


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="10000,100000,300000", help="agent counts, comma-separated")
    args = parser.parse_args()
    for n in (int(a) for a in args.agents.split(",")):
        size = int((4 * n) ** 0.5) + 1
        gc = rmapf.GridConfig(size=size, num_agents=n, density=0.1, seed=0, obs_radius=2)
        env = rmapf.pogema_v0(gc)
        start = time.perf_counter()
        env.reset()
        raw = time.perf_counter() - start
        with rmapf.VecEnv([gc]) as vec:
            start = time.perf_counter()
            vec.reset()
            batched = time.perf_counter() - start
        print(f"{n:>8} agents on {size}x{size}: env.reset {raw:.3f} s, VecEnv.reset {batched:.3f} s")


if __name__ == "__main__":
    main()
