"""``VecEnv``: many episodes stepped together over numpy arrays allocated once.

The arrays live on the object and are overwritten in place by every ``reset``/``step`` (copy them
if you keep them). The step runs with the GIL released, sharded over ``threads`` worker threads;
the results do not depend on ``threads``. Finished episodes reset themselves from a deterministic
per-episode seed schedule (instance 0 is the config seed) and report their metrics on the step
they finish.
"""
import numbers
import threading
import warnings

from . import _rmapf
from ._buffers import Buffers, as_actions
from .env import env_json
from .grid_config import GridConfig, as_grid_config


class VecEnv:
    """A batch of episodes, one ``GridConfig`` each (all with one ``obs_radius`` and ``observation_type``).

    Attributes after ``reset``/``step`` (views into buffers reused on every call):
    ``obs [N, C, R, R] uint8``, ``rewards [N] float32``, ``terminated [N]``, ``truncated [N]``,
    ``active [N]``, ``xy``/``target_xy`` ``[N, 2] int32`` (start-relative, POMAPF/MAPF),
    ``episode_done [E]``; ``agent_episode [N]`` maps agents to episodes.
    """

    def __init__(self, grid_configs, threads=1, auto_reset=True):
        if isinstance(grid_configs, (GridConfig, dict)):
            grid_configs = [grid_configs]
        if not isinstance(grid_configs, (list, tuple)) or not grid_configs:
            raise TypeError("grid_configs must be a non-empty list of rmapf.GridConfig (or dicts)")
        configs = [as_grid_config(c) for c in grid_configs]
        if not isinstance(threads, numbers.Integral) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        threads = int(threads)
        machine = _rmapf.machine_threads()
        if threads > machine:
            warnings.warn(
                f"threads={threads} is more than the {machine} threads this machine runs at once; "
                f"using at most {machine} worker threads (results do not depend on threads)",
                RuntimeWarning,
                stacklevel=2,
            )
        self.grid_configs = configs
        self._batch = _rmapf.Batch([env_json(c) for c in configs], threads, bool(auto_reset))
        self.agents_per_episode = list(self._batch.agents_per_episode)
        self.num_agents = sum(self.agents_per_episode)
        self.num_episodes = len(configs)
        self.obs_shape = tuple(self._batch.obs_shape)
        self._buf = Buffers(self._batch)
        self._lock = threading.Lock()
        self._ready = False
        import numpy as np

        self.agent_episode = np.repeat(np.arange(self.num_episodes), self.agents_per_episode)

    def __getattr__(self, name):
        # The output arrays (``obs``, ``rewards``, ...: ``rmapf._buffers.Buffers``) read as
        # attributes of the env.
        buf = self.__dict__.get("_buf")
        if buf is not None and name in vars(buf):
            return vars(buf)[name]
        raise AttributeError(name)

    def _locked(self, fn, *args):
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this VecEnv is being stepped by another thread; use one VecEnv per thread")
        try:
            return fn(*args)
        finally:
            self._lock.release()

    def reset(self):
        """Resets every episode; returns ``obs [N, C, R, R]``."""
        if self._batch is None:
            raise RuntimeError("this VecEnv was closed")
        self._locked(self._batch.reset, self._buf)
        self._ready = True
        return self._buf.obs

    def close(self):
        """Releases the simulator; the env cannot be used afterwards (``reset`` raises)."""
        self._locked(self._release)

    def _release(self):
        self._batch = None
        self._ready = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def step(self, actions):
        """Steps every episode with ``actions [N]`` (integers 0..4).

        Returns ``(obs, rewards, terminated, truncated, infos)``; ``infos`` is a list of
        ``(episode, metrics)`` for episodes that finished on this step.
        """
        if not self._ready:
            raise RuntimeError("reset() must be called before step()")
        arr = as_actions(actions, self.num_agents)
        finished = self._locked(self._batch.step, arr, self._buf)
        b = self._buf
        return b.obs, b.rewards, b.terminated, b.truncated, [(k, dict(m)) for k, m in finished]
