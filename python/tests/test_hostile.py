"""Hostile input gives a clear Python exception (or documented behaviour), never a crash or hang."""
import threading
import warnings

import numpy as np
import pytest

import rmapf


@pytest.fixture
def env():
    e = rmapf.pogema_v0(rmapf.GridConfig(num_agents=3, size=8, seed=0))
    e.reset()
    return e


def test_wrong_action_count(env):
    with pytest.raises(ValueError, match="expected 3 actions"):
        env.step([0, 1])


@pytest.mark.parametrize("bad", [[0, 1, 5], [0, -1, 2], [0, 1, 2**40]])
def test_out_of_range_actions(env, bad):
    with pytest.raises(ValueError, match="out of range"):
        env.step(bad)


@pytest.mark.parametrize("bad", [[0.5, 1, 2], ["a", "b", "c"], "abc", [None, 1, 2]])
def test_non_integer_actions(env, bad):
    with pytest.raises(TypeError):
        env.step(bad)


def test_wrong_array_dtype_and_shape():
    vec = rmapf.VecEnv([rmapf.GridConfig(num_agents=2, seed=1)], threads=1)
    vec.reset()
    with pytest.raises(TypeError):
        vec.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError):
        vec.step(np.zeros((1, 2), dtype=np.int64))
    vec.step(np.zeros(2, dtype=np.uint8))  # any integer dtype is accepted


@pytest.mark.parametrize("kwargs, field", [
    (dict(size=1), "size"), (dict(density=2.0), "density"), (dict(obs_radius=0), "obs_radius"),
    (dict(num_agents=0), "num_agents"), (dict(width=5), "height"), (dict(seed=-1), "seed"),
    (dict(on_target="teleport"), "on_target"), (dict(collision_system="none"), "collision_system"),
])
def test_invalid_config_values_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        rmapf.GridConfig(**kwargs)


def test_bad_maps():
    with pytest.raises(ValueError, match="unsupported map symbol"):
        rmapf.GridConfig(map="..\n.?")
    with pytest.raises(ValueError, match="row 1 has 1 cells"):
        rmapf.GridConfig(map="...\n.")
    with pytest.raises(ValueError):
        rmapf.GridConfig(map=[[0, 1], [0]])
    with pytest.raises(TypeError):
        rmapf.GridConfig(sizee=5)


def test_impossible_agent_counts():
    # As in pogema, the config itself is accepted (pogema-toolbox swaps in a larger map before the
    # first reset); building the episode fails with a clear error.
    env = rmapf.pogema_v0(rmapf.GridConfig(size=4, num_agents=9))
    with pytest.raises(ValueError, match="can't create task"):
        env.reset()
    with pytest.raises(ValueError, match="can't create task"):
        rmapf.VecEnv([rmapf.GridConfig(size=4, num_agents=9)])
    env = rmapf.pogema_v0(rmapf.GridConfig(map="..#\n##.", num_agents=2, seed=0))
    with pytest.raises(ValueError, match="can't create task"):
        env.reset()
    with pytest.raises(ValueError):
        rmapf.GridConfig(num_agents=10**8)


def test_step_before_reset_and_after_the_end():
    env = rmapf.pogema_v0(rmapf.GridConfig(num_agents=1, size=5, seed=2, max_episode_steps=2))
    with pytest.raises(RuntimeError):
        env.step([0])
    env.reset()
    env.step([0])
    _, _, _, trunc, infos = env.step([0])
    assert trunc == [True] and "metrics" in infos[0]
    # pogema allows stepping past the end: truncated stays True.
    _, _, _, trunc, _ = env.step([0])
    assert trunc == [True]


def test_one_vecenv_from_several_threads():
    vec = rmapf.VecEnv([rmapf.GridConfig(num_agents=64, size=32, seed=s) for s in range(8)], threads=2)
    vec.reset()
    errors, done = [], []

    def worker():
        try:
            for _ in range(200):
                vec.step(np.zeros(vec.num_agents, dtype=np.int64))
            done.append(True)
        except RuntimeError as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert all("another thread" in str(e) for e in errors)
    assert len(errors) + len(done) == 4


@pytest.mark.parametrize("bad", [[True, False, True], np.array([True, False, True])])
def test_boolean_actions_are_refused(env, bad):
    with pytest.raises(TypeError, match="integers"):
        env.step(bad)


@pytest.mark.parametrize("bad, error", [(1.5, TypeError), (True, TypeError), ("1", TypeError), (7, ValueError)])
def test_the_single_agent_env_refuses_what_the_raw_env_refuses(bad, error):
    env = rmapf.pogema_v0(rmapf.GridConfig(integration="gymnasium", num_agents=2, seed=0))
    env.reset(seed=0)
    with pytest.raises(error):
        env.step(bad)
    env.step(np.int64(1))  # numpy integers are integers


def test_vecenv_closes():
    with rmapf.VecEnv([rmapf.GridConfig(num_agents=2, seed=1)]) as vec:
        vec.reset()
        vec.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(RuntimeError, match="closed"):
        vec.reset()
    with pytest.raises(RuntimeError):
        vec.step(np.zeros(2, dtype=np.int64))


def test_map_strings_obey_the_size_limit():
    row = "." * 4097
    with pytest.raises(ValueError, match="4096"):
        rmapf.GridConfig(map=f"{row}\n{row}")


def test_absurd_sizes_are_an_error_not_an_abort():
    # 1e6 agents with radius 128 need ~390 GB of observations: refused before allocating.
    gc = rmapf.GridConfig(size=4096, obs_radius=128, num_agents=10**6)
    with pytest.raises(ValueError, match="MiB"):
        rmapf.pogema_v0(gc).reset()
    with pytest.raises(ValueError, match="MiB"):
        rmapf.VecEnv([gc])


def test_a_huge_thread_count_is_capped_by_the_work_and_the_machine_with_a_warning():
    machine = rmapf._rmapf.machine_threads()
    assert machine >= 1
    configs = [rmapf.GridConfig(num_agents=2, seed=s) for s in range(3)]
    with pytest.warns(RuntimeWarning, match=f"more than the {machine} threads"):
        vec = rmapf.VecEnv(configs, threads=10**5)
    with vec:
        vec.reset()
        vec.step(np.zeros(6, dtype=np.int64))
        capped = vec.obs.copy()
    # Within the machine's count: no warning, and the same results on one thread.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for threads in (1, machine, np.int64(1)):  # numpy's integers count as integers
            with rmapf.VecEnv(configs, threads=threads) as vec:
                vec.reset()
                vec.step(np.zeros(6, dtype=np.int64))
                assert np.array_equal(vec.obs, capped)


def test_output_arrays_of_the_wrong_kind_are_clear_errors():
    """The core fills the arrays its ``output_spec`` names; anything else is refused by name."""
    from rmapf import _buffers

    env = rmapf.VecEnv([rmapf.GridConfig(num_agents=2, size=6, seed=0)])
    batch = env._batch
    spec = {name: (dtype, tuple(shape)) for name, dtype, shape, _ in batch.output_spec()}
    assert spec["obs"] == ("uint8", (2, 3, 11, 11)) and spec["episode_done"] == ("bool", (1,))
    buf = _buffers.Buffers(batch)
    buf.rewards = np.zeros(2, dtype=np.float64)
    with pytest.raises(TypeError, match="`rewards` must be a numpy array of float32"):
        batch.reset(buf)
    buf = _buffers.Buffers(batch)
    buf.obs = np.zeros((2, 3, 11, 12), dtype=np.uint8)
    with pytest.raises(ValueError, match="obs"):
        batch.reset(buf)
    buf = _buffers.Buffers(batch)
    buf.xy = np.zeros((2, 4), dtype=np.int32)[:, ::2]
    with pytest.raises(ValueError, match="`xy` must be C-contiguous"):
        batch.reset(buf)
    del buf.actions
    with pytest.raises(AttributeError):
        batch.reset(buf)
    env.reset()
    assert env.actions.shape == (2,)
