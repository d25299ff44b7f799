#!/usr/bin/env python3
"""Side-by-side speed comparison of POGEMA 1.4.0 and rmapf on identical configurations.

POGEMA is measured in this process on one thread: ``pogema_v0`` with ``seed=42``, random
actions pre-drawn with numpy (a fresh Python list for every ``env.step`` call), and only the
``env.step`` calls timed with ``time.perf_counter`` until about ``--seconds`` of step time has
accumulated. When an episode ends (every agent terminated, or every agent truncated) the
environment is reset; resets are timed separately, the initial reset included.

rmapf is measured by running ``target/release/bench-env`` (relative to the repository root)
once with one thread and once with two threads per configuration; the one-thread run feeds both
the comparison against POGEMA and the two-thread speed-up.

For configuration ``c`` both simulators get the same 32x32 maze: either the file given with
``--maze-file`` or one generated here (seeded reimplementation of pogema-toolbox's maze
generator) and written to a temporary file that is handed to ``bench-env``.

Output: the command line, the python/numpy/pogema versions and a Markdown table on stdout;
progress messages on stderr; optionally all raw numbers as JSON (``--json-out``).

Example::

    .venv/bin/python scripts/bench_compare.py --configs a,b64 --seconds 3
"""

import os

# Single-threaded numeric libraries; must be set before numpy is imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_ENV = REPO_ROOT / "target" / "release" / "bench-env"
CONFIG_NAMES = ("a", "b64", "b256", "c", "x", "bottleneck")
SEED = 42
BOTTLENECK_LENGTH = 20
# Number of steps' worth of random actions drawn from numpy at a time (outside the timing).
ACTION_BLOCK = 1024
ROUNDS = ((1, "rmapf 1 thread"), (2, "rmapf 2 threads"))


def generate_maze(width=32, height=32, obstacle_density=0.5, wall_components=8,
                  go_straight=0.8, seed=0):
    """Return a ``width`` x ``height`` maze as a string map ('#' obstacle, '.' free).

    Reimplements pogema-toolbox's maze generator: random walls grown from even cells of a
    framed grid, preferring to keep their direction with probability ``go_straight``.
    """
    g = np.random.default_rng(seed)
    rows, cols = height // 2 * 2 + 3, width // 2 * 2 + 3
    grid = np.zeros((rows, cols), dtype=np.int64)
    grid[0, :] = grid[-1, :] = 1
    grid[:, 0] = grid[:, -1] = 1
    for _ in range(int(rows * cols * obstacle_density // wall_components)):
        x = g.integers(0, cols // 2) * 2
        y = g.integers(0, rows // 2) * 2
        grid[y][x] = 1
        last = (0, 0)
        for _ in range(wall_components):
            cands = []
            if x > 1:
                cands.append((y, x - 2))
            if x < cols - 2:
                cands.append((y, x + 2))
            if y > 1:
                cands.append((y - 2, x))
            if y < rows - 2:
                cands.append((y + 2, x))
            if not cands:
                continue
            probs = [go_straight if (cy - y, cx - x) == last else 1 - go_straight
                     for cy, cx in cands]
            if all(p == go_straight for p in probs):
                probs = [1 / len(cands)] * len(cands)
            else:
                total = sum(probs)
                probs = [p / total for p in probs]
            ny, nx = cands[g.choice(range(len(cands)), p=probs)]
            last = (ny - y, nx - x)
            if grid[ny][nx] == 0:
                grid[ny][nx] = 1
                grid[(y + ny) // 2][(x + nx) // 2] = 1
            y, x = ny, nx
    maze = grid[1:-1, 1:-1][:height, :width]
    return "\n".join("".join("#" if cell else "." for cell in row) for row in maze)


def bottleneck_map(length=BOTTLENECK_LENGTH):
    """Return the bottleneck string map: two open rows, a 1-wide corridor of ``length`` rows in
    column 4, and two open rows, all 9 columns wide."""
    open_row, corridor_row = "." * 9, "####.####"
    return "\n".join([open_row] * 2 + [corridor_row] * length + [open_row] * 2)


def grid_config_kwargs(name, maze):
    """Return the ``GridConfig`` keyword arguments of configuration ``name`` (``maze`` is the
    string map used by ``c``)."""
    finish = dict(obs_radius=5, on_target="finish", collision_system="priority", seed=SEED)
    if name == "a":
        return dict(finish, size=8, density=0.3, num_agents=4, max_episode_steps=64)
    if name in ("b64", "b256"):
        return dict(finish, size=64, density=0.3, num_agents=int(name[1:]), max_episode_steps=256)
    if name == "c":
        return dict(map=maze, num_agents=64, obs_radius=5, on_target="restart",
                    collision_system="priority", max_episode_steps=256, seed=SEED)
    if name == "x":
        return dict(size=64, density=0.3, num_agents=256, obs_radius=5, on_target="restart",
                    collision_system="soft", observation_type="POMAPF", max_episode_steps=256,
                    seed=SEED)
    if name == "bottleneck":
        last_row = BOTTLENECK_LENGTH + 3
        return dict(map=bottleneck_map(), num_agents=2,
                    agents_xy=[[0, 0], [last_row, 0]], targets_xy=[[last_row, 8], [0, 8]],
                    obs_radius=2, collision_system="block_both", on_target="finish",
                    max_episode_steps=2 * BOTTLENECK_LENGTH + 100, seed=SEED)
    raise ValueError(f"unknown configuration {name!r}")


def measure_pogema(name, maze, seconds):
    """Run POGEMA on configuration ``name`` for about ``seconds`` of accumulated step time.

    Returns a dict with the step count, step time, episode count, agent count,
    agent-steps/s and mean reset time in milliseconds.
    """
    from pogema import GridConfig, pogema_v0

    grid_config = GridConfig(**grid_config_kwargs(name, maze))
    num_agents = grid_config.num_agents
    env = pogema_v0(grid_config=grid_config)
    num_actions = env.action_space.n
    rng = np.random.default_rng(SEED)

    start = time.perf_counter()
    env.reset()
    reset_times = [time.perf_counter() - start]

    steps, step_time = 0, 0.0
    actions = iter(())
    while step_time < seconds:
        action = next(actions, None)
        if action is None:
            actions = iter(rng.integers(0, num_actions, size=(ACTION_BLOCK, num_agents)).tolist())
            action = next(actions)
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        step_time += time.perf_counter() - start
        steps += 1
        if all(terminated) or all(truncated):
            start = time.perf_counter()
            env.reset()
            reset_times.append(time.perf_counter() - start)

    return {
        "steps": steps,
        "step_time_s": step_time,
        "episodes": len(reset_times),
        "agents": num_agents,
        "agent_steps_per_s": steps * num_agents / step_time,
        "env_steps_per_s": steps / step_time,
        "reset_ms": 1000 * sum(reset_times) / len(reset_times),
    }


def bench_env_command(name, threads, seconds, maze_path, episodes=None):
    """Return the ``bench-env`` argument list for one configuration and thread count
    (``episodes``: episodes stepped together, ``bench-env``'s default when ``None``)."""
    cmd = [str(BENCH_ENV), "--config", name, "--threads", str(threads),
           "--seconds", str(seconds), "--json"]
    if episodes is not None:
        cmd += ["--episodes", str(episodes)]
    if name == "c":
        cmd += ["--maze-file", str(maze_path)]
    return cmd


def measure_rmapf(name, threads, seconds, maze_path, episodes=None):
    """Run ``bench-env`` and return its JSON record for ``name`` and ``threads``.

    Exits with status 1 if the binary fails or prints no matching record.
    """
    cmd = bench_env_command(name, threads, seconds, maze_path, episodes)
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"error: {shlex.join(cmd)} exited with status {proc.returncode}:\n"
                 f"{proc.stderr.strip()}")
    for line in reversed(proc.stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("config") == name and record.get("threads") == threads:
                return record
    sys.exit(f"error: {shlex.join(cmd)} printed no JSON record for config {name!r} "
             f"with {threads} thread(s); stdout was:\n{proc.stdout.strip()}")


def versions():
    """Return the python, numpy and pogema versions as a dict of strings."""
    def dist_version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {"python": platform.python_version(), "numpy": np.__version__,
            "pogema": dist_version("pogema")}


def fmt_rate(value):
    """Format a rate (agent-steps/s) with thousands separators; 'n/a' when missing."""
    return "n/a" if value is None else f"{value:,.0f}"


def fmt_ms(value):
    """Format a duration in milliseconds; 'n/a' when missing."""
    return "n/a" if value is None else f"{value:.3f}"


def fmt_ratio(numerator, denominator):
    """Format ``numerator / denominator`` as 'N.NNx'; 'n/a' when either is missing."""
    if numerator is None or denominator is None:
        return "n/a"
    return f"{numerator / denominator:.2f}x"


def markdown_table(results):
    """Return the comparison table for ``results`` (config name -> measurements)."""
    header = ["config", "POGEMA agent-steps/s", "POGEMA reset ms",
              "rmapf agent-steps/s (1 thread)", "ratio", "rmapf reset ms",
              "rmapf 2 threads", "2-thread speed-up"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * 7) + "|"]
    for name, res in results.items():
        pogema = res.get("pogema") or {}
        one = res.get("rmapf", {}).get(1) or {}
        two = res.get("rmapf", {}).get(2) or {}
        pogema_rate = pogema.get("agent_steps_per_s")
        one_rate, two_rate = one.get("agent_steps_per_s"), two.get("agent_steps_per_s")
        row = [name, fmt_rate(pogema_rate), fmt_ms(pogema.get("reset_ms")),
               fmt_rate(one_rate), fmt_ratio(one_rate, pogema_rate), fmt_ms(one.get("reset_ms")),
               fmt_rate(two_rate), fmt_ratio(two_rate, one_rate)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def parse_args(argv):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default=",".join(CONFIG_NAMES),
                        help=f"comma-separated subset of {','.join(CONFIG_NAMES)} (default: all)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="accumulated step time per measurement (default: 3)")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--rmapf-only", action="store_true", help="skip the POGEMA measurements")
    side.add_argument("--pogema-only", action="store_true", help="skip the rmapf measurements")
    parser.add_argument("--maze-file", type=Path,
                        help="string map for config c (default: the generated 32x32 maze)")
    parser.add_argument("--json-out", type=Path, help="also write all raw numbers to this file")
    parser.add_argument("--episodes", type=int,
                        help="episodes rmapf steps together (default: bench-env's 64; 1 is the "
                             "like-for-like comparison with pogema's one env, whose data stays "
                             "in the cache as pogema's does)")
    args = parser.parse_args(argv)
    args.configs = [name.strip() for name in args.configs.split(",") if name.strip()]
    unknown = [name for name in args.configs if name not in CONFIG_NAMES]
    if unknown or not args.configs:
        parser.error(f"--configs: unknown or empty selection {unknown}; "
                     f"choose from {','.join(CONFIG_NAMES)}")
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.episodes is not None and args.episodes < 1:
        parser.error("--episodes must be at least 1")
    return args


def main():
    """Run the selected measurements and print the report."""
    args = parse_args(sys.argv[1:])
    run_rmapf = not args.pogema_only
    if run_rmapf and not BENCH_ENV.is_file():
        sys.exit(f"error: {BENCH_ENV} not found; build it first with\n"
                 f"    cargo build --release --bin bench-env")

    maze = args.maze_file.read_text() if args.maze_file else generate_maze()
    results = {name: {"pogema": None, "rmapf": {}} for name in args.configs}
    with tempfile.TemporaryDirectory(prefix="bench_compare_") as tmp:
        maze_path = args.maze_file or Path(tmp) / "maze32.map"
        if not args.maze_file:
            maze_path.write_text(maze + "\n")
        for name in args.configs:
            if not args.rmapf_only:
                print(f"[{name}] POGEMA ...", file=sys.stderr, flush=True)
                results[name]["pogema"] = measure_pogema(name, maze, args.seconds)
            if run_rmapf:
                # One episode cannot be sharded: its two-thread run would be a one-thread run.
                rounds = ROUNDS if args.episodes is None or args.episodes > 1 else ROUNDS[:1]
                for threads, label in rounds:
                    print(f"[{name}] {label} ...", file=sys.stderr, flush=True)
                    results[name]["rmapf"][threads] = measure_rmapf(
                        name, threads, args.seconds, maze_path, args.episodes)

    command = shlex.join([sys.executable, *sys.argv])
    info = versions()
    print(f"command: {command}")
    print(", ".join(f"{key} {value}" for key, value in info.items()))
    print()
    print(markdown_table(results))

    if args.json_out:
        raw = {"command": command, "versions": info, "seconds": args.seconds,
               "results": results}
        args.json_out.write_text(json.dumps(raw, indent=2) + "\n")


if __name__ == "__main__":
    main()
