"""VecEnv agent-steps/s on one thread for one configuration of ``bench_vecenv.py`` (no pogema run):
the Python side of ``bench-env --auto-reset`` with the same episodes.

Usage: python python/benchmarks/bench_vecenv_one.py b256|b64|x [--seconds 2]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_vecenv import CONFIGS, bench_rmapf  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", choices=sorted(CONFIGS))
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--seconds", type=float, default=2.0)
    args = p.parse_args()
    rate = bench_rmapf(CONFIGS[args.config], args.episodes, 1, args.seconds)
    print(f"{args.config}: VecEnv, {args.episodes} episodes, 1 thread: {rate / 1e6:.2f} M agent-steps/s")


if __name__ == "__main__":
    main()
