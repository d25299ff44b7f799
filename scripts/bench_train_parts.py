#!/usr/bin/env python3
"""End-to-end training throughput with the batch in one part and in two (``ppo.batch_parts``).

Runs ``target/release/train-srmt`` (relative to the repository root) on one config with
``batch_parts = 1`` and ``batch_parts = 2``, alternating, ``--repeats`` times each, every run in a
fresh temporary run folder for ``--steps`` agent steps without the final corridor evaluation,
and prints agent steps / training seconds (``metrics.jsonl``'s last line) for each run, then the
means and their ratio as a Markdown table. One part is the one-pass maths of earlier builds (the
same numbers bit for bit), so the ratio is what splitting the batch over the cores gives on the
same binary. Run it on an otherwise idle machine: the runs alternate so that a machine whose
speed drifts affects both arms alike.

    python3 scripts/bench_train_parts.py                      # the default run (Bottleneck SRMT)
    python3 scripts/bench_train_parts.py --config trainers/configs/lifelong-srmt-lite.toml \\
        --steps 250000 --repeats 2
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def with_parts(text: str, parts: int) -> str:
    """The config text with ``ppo.batch_parts = parts`` (replaced, or added to ``[ppo]``)."""
    line = f"batch_parts = {parts}"
    if re.search(r"^batch_parts\s*=.*$", text, flags=re.M):
        return re.sub(r"^batch_parts\s*=.*$", line, text, flags=re.M)
    if not re.search(r"^\[ppo\]\s*$", text, flags=re.M):
        raise ValueError("the config has no [ppo] section")
    return re.sub(r"^\[ppo\]\s*$", f"[ppo]\n{line}", text, count=1, flags=re.M)


def throughput(binary: Path, config: Path, steps: int, workdir: Path) -> float:
    """Agent steps per training second of one run."""
    runs = workdir / "runs"
    subprocess.run(
        [str(binary), "--config", str(config), "--total-agent-steps", str(steps),
         "--eval-lengths", "", "--runs", str(runs), "--run", "bench", "--quiet"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    lines = (runs / "bench" / "metrics.jsonl").read_text().splitlines()
    last = [json.loads(l) for l in lines if '"iteration"' in l][-1]
    subprocess.run(["rm", "-rf", str(runs)], check=True)
    return last["agent_steps"] / last["seconds"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="trainers/configs/bottleneck-srmt-directional.toml",
                    help="training config (default: the default run's)")
    ap.add_argument("--steps", type=int, default=1_000_000, help="agent steps per run")
    ap.add_argument("--repeats", type=int, default=3, help="runs per arm")
    ap.add_argument("--binary", default="target/release/train-srmt")
    args = ap.parse_args()
    if args.steps <= 0 or args.repeats <= 0:
        ap.error("--steps and --repeats must be positive")
    binary = ROOT / args.binary
    if not binary.exists():
        ap.error(f"{binary} not found: cargo build --release --bin train-srmt")
    text = (ROOT / args.config).read_text()
    results: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        configs = {}
        for parts in results:
            configs[parts] = work / f"parts{parts}.toml"
            configs[parts].write_text(with_parts(text, parts))
        for r in range(args.repeats):
            for parts in results:
                rate = throughput(binary, configs[parts], args.steps, work)
                results[parts].append(rate)
                print(f"run {r + 1}, batch_parts = {parts}: {rate:,.0f} agent-steps/s",
                      file=sys.stderr)
    print(f"`{' '.join(sys.argv)}` ({args.config}, {args.steps:,} agent steps a run, "
          f"{os.cpu_count()} CPUs)\n")
    print("| batch_parts | agent-steps/s, each run | mean |")
    print("|---:|---|---:|")
    means = {}
    for parts, rates in results.items():
        means[parts] = statistics.mean(rates)
        each = " / ".join(f"{x:,.0f}" for x in rates)
        print(f"| {parts} | {each} | {means[parts]:,.0f} |")
    print(f"\nratio: {means[2] / means[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
