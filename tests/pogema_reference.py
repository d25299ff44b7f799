"""Reference side of rmapf's differential tests: runs numpy and pogema 1.4.0 on requests read
from a JSON file and writes what they produce as JSON, for the Rust tests to compare against.

Usage: python pogema_reference.py {rng|instances|episodes} REQUEST.json OUT.json
"""
import json
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

MASK64 = (1 << 64) - 1


def rng_reference(req):
    """numpy Generator draws for each seed, in the order the Rust test replays them."""
    out = []
    for seed in req["seeds"]:
        state = np.random.SeedSequence(seed).generate_state(4, np.uint64)
        raw = np.random.PCG64(seed).random_raw(4)
        g = np.random.default_rng(seed)
        draws = {
            "state": [str(int(v)) for v in state],
            "raw": [str(int(v)) for v in raw],
            "integers_scalar": [int(g.integers(0, hi)) for hi in (1, 2, 5, 17, 1000, 2**31 - 1, 2**32)],
            "random": [float(g.random()) for _ in range(3)],
            "integers_sized": [int(v) for v in g.integers(2**31 - 1, size=5)],
            "uniform": [float(g.uniform(0.1, 0.3)) for _ in range(2)],
        }
        binoms = []
        for p in (0.0, 0.1, 0.3, 0.5, 0.7, 1.0, seed % 97 / 96):
            binoms.append([int(v) for v in g.binomial(1, p, (3, 4)).ravel()])
        draws["binomial"] = binoms
        items = list(range(seed % 40 + 1))
        g.shuffle(items)
        draws["shuffle"] = items
        draws["choice"] = [int(g.choice(list(range(1, 9)), 1)[0]) for _ in range(3)]
        probs = [0.8, 0.1, 0.05, 0.05]
        draws["choice_p"] = [int(g.choice(range(4), p=probs)) for _ in range(4)]
        draws["after"] = str(int(g.integers(0, 2**32)))
        out.append(draws)
    return out


def make_config(kwargs):
    from pogema import GridConfig
    kw = {k: v for k, v in kwargs.items() if k != "bug_compat"}
    return GridConfig(**kw)


def instances_reference(req):
    """Obstacles, starts and goals of pogema's Grid for each config (or the exception name)."""
    from pogema.grid import Grid
    out = []
    for kwargs in req["configs"]:
        try:
            gc = make_config(kwargs)
            grid = Grid(gc)
            r = gc.obs_radius
            out.append({
                "obstacles": grid.get_obstacles(ignore_borders=True).astype(int).ravel().tolist(),
                "starts": [[int(x) - r, int(y) - r] for x, y in grid.positions_xy],
                "goals": [[int(x) - r, int(y) - r] for x, y in grid.finishes_xy],
            })
        except Exception as e:  # the Rust side must fail too
            out.append({"error": type(e).__name__})
    return out


def lcg_actions(state, n):
    actions = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & MASK64
        actions.append((state >> 33) % 5)
    return state, actions


def pack(arr):
    return np.packbits(np.asarray(arr, dtype=np.uint8).ravel()).tobytes().hex()


def frame(env, obs, obs_type, n, r, extra):
    grid = env.unwrapped.grid
    f = dict(extra)
    f["positions"] = [[int(x) - r, int(y) - r] for x, y in grid.positions_xy]
    f["goals"] = [[int(x) - r, int(y) - r] for x, y in grid.finishes_xy]
    f["occupied"] = [[int(x) - r, int(y) - r] for x, y in np.argwhere(grid.positions == 1)]
    if obs_type == "default":
        f["obs"] = pack(np.stack(obs))
    else:
        f["obs"] = pack(np.stack([np.stack([o["obstacles"], o["agents"]]) for o in obs]))
        f["xy"] = [[int(v) for v in o["xy"]] for o in obs]
        f["target_xy"] = [[int(v) for v in o["target_xy"]] for o in obs]
        if obs_type == "MAPF":
            f["global_xy"] = [[int(v) for v in o["global_xy"]] for o in obs]
            f["global_target_xy"] = [[int(v) for v in o["global_target_xy"]] for o in obs]
    return f


def episodes_reference(req):
    """Full trajectories under scripted LCG actions, every field of every step."""
    from pogema import pogema_v0
    from pogema.wrappers.metrics import AgentsDensityWrapper
    out = []
    for case in req["cases"]:
        kwargs = case["config"]
        try:
            gc = make_config(kwargs)
            env = pogema_v0(grid_config=gc)
            if gc.observation_type in ("POMAPF", "MAPF"):
                # The POGEMA benchmark's wrapper (it reads the dict observations): adds
                # avg_agents_density to the final step's metrics.
                env = AgentsDensityWrapper(env)
            n, r = gc.num_agents, gc.obs_radius
            state = case["action_seed"]
            episodes = []
            for _ in range(case["resets"]):
                obs, infos = env.reset()
                frames = [frame(env, obs, gc.observation_type, n, r, {
                    "active": [bool(i["is_active"]) for i in infos],
                    "obstacles": env.unwrapped.grid.get_obstacles(ignore_borders=True).astype(int).ravel().tolist(),
                })]
                metrics = None
                for _ in range(case["max_steps"]):
                    state, actions = lcg_actions(state, n)
                    sent = list(actions)
                    obs, rew, term, trunc, infos = env.step(sent)
                    frames.append(frame(env, obs, gc.observation_type, n, r, {
                        "actions": [int(a) for a in sent],
                        "rewards": [float(v) for v in rew],
                        "terminated": [bool(v) for v in term],
                        "truncated": [bool(v) for v in trunc],
                        "active": [bool(i["is_active"]) for i in infos],
                    }))
                    if all(term) or all(trunc):
                        metrics = {k: float(v) for k, v in infos[0].get("metrics", {}).items()}
                        break
                episodes.append({"frames": frames, "metrics": metrics})
            out.append({"episodes": episodes})
        except Exception as e:
            out.append({"error": type(e).__name__, "message": str(e)})
    return out


def main():
    mode, req_path, out_path = sys.argv[1:4]
    with open(req_path) as f:
        req = json.load(f)
    result = {"rng": rng_reference, "instances": instances_reference, "episodes": episodes_reference}[mode](req)
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
