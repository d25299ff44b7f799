"""PettingZoo's and Gymnasium's own API checkers pass, and VecEnv matches single envs."""
import numpy as np
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import parallel_api_test

import rmapf


def test_pettingzoo_parallel_api():
    env = rmapf.pogema_v0(rmapf.GridConfig(integration="PettingZoo", num_agents=4, size=8, seed=3))
    parallel_api_test(env, num_cycles=200)


def test_gymnasium_check_env():
    env = rmapf.pogema_v0(rmapf.GridConfig(integration="gymnasium", num_agents=3, size=8, seed=1))
    check_env(env, skip_render_check=True)


def test_vecenv_matches_single_envs_and_thread_counts():
    configs = [rmapf.GridConfig(seed=s, size=10, num_agents=1 + s % 5, on_target="restart",
                                collision_system="soft", max_episode_steps=16) for s in range(12)]
    rng = np.random.default_rng(0)
    runs = []
    for threads in (1, 2):
        vec = rmapf.VecEnv(configs, threads=threads)
        vec.reset()
        rng = np.random.default_rng(0)
        trace = []
        for _ in range(40):
            obs, rew, term, trunc, infos = vec.step(rng.integers(0, 5, size=vec.num_agents))
            trace.append((obs.copy(), rew.copy(), trunc.copy(), infos))
        runs.append(trace)
    for (o1, r1, t1, i1), (o2, r2, t2, i2) in zip(*runs):
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(t1, t2) and i1 == i2
    # The first episode of each config equals a single pogema-compatible env under the same actions.
    vec = rmapf.VecEnv(configs, threads=2)
    singles = [rmapf.pogema_v0(c) for c in configs]
    obs = vec.reset()
    single_obs = [np.stack(e.reset()[0]) for e in singles]
    assert np.array_equal(obs.astype(np.float32), np.concatenate(single_obs))
    rng = np.random.default_rng(5)
    for _ in range(15):
        actions = rng.integers(0, 5, size=vec.num_agents)
        obs, rew, *_ = vec.step(actions)
        start = 0
        for e, n in zip(singles, vec.agents_per_episode):
            o, r, *_ = e.step(list(actions[start:start + n]))
            assert np.array_equal(obs[start:start + n].astype(np.float32), np.stack(o))
            assert np.allclose(rew[start:start + n], r)
            start += n


def test_animation_monitor_writes_an_svg(tmp_path):
    env = rmapf.AnimationMonitor(rmapf.pogema_v0(rmapf.GridConfig(num_agents=3, size=6, seed=4, max_episode_steps=8)),
                                 rmapf.AnimationConfig(directory=str(tmp_path / "renders")))
    env.reset()
    for _ in range(8):
        env.step(env.sample_actions())
    path = env.save_animation(str(tmp_path / "episode.svg"))
    text = open(path).read()
    assert text.startswith("<svg") and text.count("<animate") >= 3 * 5
    assert "ansi" in env.metadata["render_modes"] and isinstance(env.render(mode="ansi"), str)


def test_animation_monitor_around_gymnasium_make_saves_each_episode(tmp_path):
    """``AnimationMonitor(gymnasium.make("Pogema-v0", ...))``, as pogema's own tests build it: on
    Gymnasium 1.x the wrappers ``make`` adds no longer forward attributes, so the monitor reads the
    config through ``unwrapped`` and falls back to ``get_wrapper_attr``."""
    import gymnasium

    # "rmapf/Pogema-v0": importing pogema (other tests do) registers its own "Pogema-v0" over ours.
    env = gymnasium.make("rmapf/Pogema-v0", grid_config=rmapf.GridConfig(num_agents=2, size=6, obs_radius=2, density=0.3,
                                                                  seed=42, on_target="finish", max_episode_steps=16))
    env = rmapf.AnimationMonitor(env, rmapf.AnimationConfig(directory=str(tmp_path)))
    env.reset(seed=0)
    while True:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    assert [p.name for p in tmp_path.iterdir()] == ["pogema-ep00001-seed42.svg"]
    assert env.get_num_agents() == 2
