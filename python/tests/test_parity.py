"""rmapf and pogema 1.4.0 give identical trajectories through the Python API."""
import numpy as np
import pytest

import rmapf
from conftest import random_config, same, scripted_actions

pogema = pytest.importorskip("pogema")

CASES = 120


def run(module, cfg, rng_seed):
    """Every output of a full episode (and a second reset) under scripted actions."""
    try:
        env = module.pogema_v0(module.GridConfig(**cfg))
        trace = []
        rng = np.random.default_rng(rng_seed)
        for _ in range(2):
            obs, infos = env.reset()
            trace.append(("reset", obs, infos, env.get_agents_xy(), env.get_targets_xy(ignore_borders=True)))
            n = len(obs)
            for _ in range(cfg["max_episode_steps"]):
                actions = scripted_actions(rng, n)
                obs, rew, term, trunc, infos = env.step(actions)
                trace.append((actions, obs, rew, term, trunc, infos, env.get_agents_xy(ignore_borders=True),
                              env.get_targets_xy()))
                if all(term) or all(trunc):
                    break
        return trace
    except Exception as e:  # both must fail alike
        return type(e).__name__


@pytest.mark.parametrize("k", range(CASES))
def test_identical_trajectories(k):
    cfg = random_config(np.random.default_rng(1000 + k), k)
    want, got = run(pogema, cfg, k), run(rmapf, cfg, k)
    if isinstance(want, str) or isinstance(got, str):
        assert isinstance(want, str) and isinstance(got, str), f"{cfg}: pogema {want!r:.80}, rmapf {got!r:.80}"
        return
    assert len(want) == len(got), cfg
    for t, (w, g) in enumerate(zip(want, got)):
        assert same(w, g), f"step {t} of {cfg}"
