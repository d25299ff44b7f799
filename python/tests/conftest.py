"""Shared helpers for rmapf's Python tests."""
import numpy as np


def random_config(rng, k):
    """The ``k``-th generated config: every collision system x on-target mode x observation type,
    random maps, string maps, letter maps and pool maps, 1-48 agents, radii 1-6."""
    collision = ["priority", "block_both", "soft"][k % 3]
    on_target = ["finish", "nothing", "restart"][(k // 3) % 3]
    obs_type = ["default", "POMAPF", "MAPF"][(k // 9) % 3]
    kind = ["random", "string", "letters", "pools"][(k // 27) % 4]
    cfg = dict(collision_system=collision, on_target=on_target, observation_type=obs_type,
               obs_radius=int(rng.integers(1, 7)), max_episode_steps=int(rng.integers(4, 40)),
               seed=int(rng.integers(0, 2**31)))
    h, w = int(rng.integers(3, 16)), int(rng.integers(3, 16))
    grid = (rng.random((h, w)) < rng.random() * 0.35).astype(int)
    text = "\n".join("".join("#" if v else "." for v in row) for row in grid)
    n = int(rng.integers(1, max(2, h * w // 5)))
    if kind == "random":
        cfg.update(size=max(h, 2), density=float(rng.random() * 0.4), num_agents=min(n, 48))
    elif kind == "string":
        cfg.update(map=text, num_agents=n)
    elif kind == "letters" and on_target != "restart":
        free = [(x, y) for x in range(h) for y in range(w) if not grid[x, y]]
        rng.shuffle(free)
        m = max(1, min(8, len(free) // 2))
        chars = [list(r) for r in text.split("\n")]
        for i in range(m):
            (sx, sy), (gx, gy) = free[i], free[m + i]
            chars[sx][sy], chars[gx][gy] = chr(97 + i), chr(65 + i)
        cfg.update(map="\n".join("".join(r) for r in chars))
    else:
        rows = ["".join(c if c == "#" else "..@$!"[int(rng.integers(0, 5))] for c in r) for r in text.split("\n")]
        cfg.update(map="\n".join(rows), num_agents=min(n, 4))
    return cfg


def scripted_actions(rng, n):
    """Random actions as a fresh Python list (pogema mutates the list in soft mode)."""
    return [int(a) for a in rng.integers(0, 5, size=n)]


def obs_equal(a, b):
    """pogema observations (arrays or POMAPF/MAPF dicts) compared exactly."""
    if isinstance(a, dict):
        if set(a) != set(b):
            return False
        return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
    return np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype


def same(a, b):
    """Nested outputs (lists, dicts, arrays, floats) compared exactly (floats within 1e-9)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return obs_equal(a, b)
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) < 1e-9
    return a == b
