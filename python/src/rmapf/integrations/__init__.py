"""pogema 1.4.0's trainer integrations over rmapf's env: ``integration="SampleFactory"`` (the
SRMT and Follower training code's envs), ``integration="PyMARL"`` and the registered single-agent
Gymnasium env ``Pogema-v0``.

The wrappers keep pogema's semantics step for step; they forward unknown attributes to the env
they wrap explicitly, so that they also work with Gymnasium 1.x (whose ``Wrapper`` no longer
forwards attributes, which breaks pogema's own wrappers there).
"""
from copy import deepcopy

import gymnasium
import numpy as np

from .._buffers import as_action
from ..env import PogemaEnv
from ..grid_config import as_grid_config


class _Forwarding(gymnasium.Wrapper):
    """A Gymnasium wrapper that forwards unknown public attributes to the wrapped env (as
    Gymnasium 0.28's ``Wrapper`` did, which pogema's wrappers rely on)."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(f"accessing private attribute {name!r} is prohibited")
        return getattr(self.env, name)


class MetricsForwardingWrapper(_Forwarding):
    """Sample Factory's hook: every info holding ``metrics`` also gets a copy of them as
    ``episode_extra_stats``."""

    def step(self, action):
        observations, rewards, terminated, truncated, infos = self.env.step(action)
        for info in infos:
            if "metrics" in info:
                info["episode_extra_stats"] = deepcopy(info["metrics"])
        return observations, rewards, terminated, truncated, infos


class IsMultiAgentWrapper(_Forwarding):
    """Marks the env multi-agent for Sample Factory: ``is_multiagent`` and ``num_agents``."""

    def __init__(self, env):
        super().__init__(env)
        self.is_multiagent = True

    @property
    def num_agents(self):
        """Agents per episode."""
        return self.env.get_num_agents()


class AutoResetWrapper(_Forwarding):
    """Resets as soon as every agent is terminated or every agent truncated; that step returns
    the new episode's first observations with the finished episode's rewards, flags and infos."""

    def step(self, action):
        observations, rewards, terminated, truncated, infos = self.env.step(action)
        if all(terminated) or all(truncated):
            observations, _ = self.env.reset()
        return observations, rewards, terminated, truncated, infos


def make_sample_factory(grid_config):
    """pogema's ``integration="SampleFactory"`` env: the raw env with its metrics forwarded as
    ``episode_extra_stats``, marked multi-agent, and auto-reset unless ``auto_reset=False``."""
    grid_config = as_grid_config(grid_config)
    env = MetricsForwardingWrapper(PogemaEnv(grid_config))
    env = IsMultiAgentWrapper(env)
    if grid_config.auto_reset is None or grid_config.auto_reset:
        env = AutoResetWrapper(env)
    return env


class SingleAgentWrapper(_Forwarding):
    """pogema's ``SingleAgentWrapper``: agent 0 is controlled, the others act at random. The
    others' actions come from the env's ``np_random``, seeded by ``reset(seed=...)`` (pogema draws
    them unseeded, so its trajectories cannot be repeated)."""

    def __init__(self, env):
        super().__init__(env)
        if env.grid_config.observation_type != "default":
            raise ValueError("the single-agent env needs observation_type='default' (array observations)")

    def step(self, action):
        others = self.env.unwrapped.np_random.integers(5, size=self.env.get_num_agents() - 1).tolist()
        observations, rewards, terminated, truncated, infos = self.env.step([as_action(action)] + others)
        return observations[0], rewards[0], terminated[0], truncated[0], infos[0]

    def reset(self, seed=None, return_info=True, options=None):
        observations, infos = self.env.reset(seed=seed)
        return (observations[0], infos[0]) if return_info else observations[0]

    def render(self, *args, **kwargs):
        return self.env.render(*args, **kwargs)


def make_single_agent_gym(grid_config=None):
    """The env behind ``gymnasium.make("Pogema-v0", grid_config=...)`` (pogema's
    ``make_single_agent_gym``)."""
    return SingleAgentWrapper(PogemaEnv(as_grid_config(grid_config)))


class PyMarlPogema:
    """pogema's PyMARL env (``integration="PyMARL"``): one team reward, flat observations, the
    ``get_state``/``get_avail_actions``/``get_env_info`` interface PyMARL's runners call."""

    def __init__(self, grid_config, mh_distance=False):
        self._grid_config = as_grid_config(grid_config)
        self.env = PogemaEnv(self._grid_config)
        self._mh_distance = mh_distance
        self._observations, _ = self.env.reset()
        self.max_episode_steps = self._grid_config.max_episode_steps
        self.episode_limit = self._grid_config.max_episode_steps
        self.n_agents = self.env.get_num_agents()
        self.spec = None

    @property
    def unwrapped(self):
        return self

    def step(self, actions):
        """``(sum of rewards, done, info)``; ``info`` holds the metrics when the episode ends."""
        self._observations, rewards, terminated, truncated, infos = self.env.step(actions)
        done = all(terminated) or all(truncated)
        info = dict(infos[0]["metrics"]) if done else {}
        return sum(rewards), done, info

    def get_obs(self):
        """Every agent's flattened observation, ``[n_agents, obs_size]``."""
        return np.array([self.get_obs_agent(i) for i in range(self.n_agents)])

    def get_obs_agent(self, agent_id):
        """Agent ``agent_id``'s observation, flattened."""
        return np.array(self._observations[agent_id]).flatten()

    def get_obs_size(self):
        """Length of one flattened observation."""
        return len(np.array(self._observations[0]).flatten())

    def get_state(self):
        """The global state vector (the raw env's ``get_state()``)."""
        return self.env.get_state()

    def get_state_size(self):
        """Length of the state vector."""
        return len(self.get_state())

    def get_avail_actions(self):
        """Every action is available to every agent."""
        return [self.get_avail_agent_actions(i) for i in range(self.env.get_num_agents())]

    @staticmethod
    def get_avail_agent_actions(agent_id):
        """Every action is available."""
        return list(range(5))

    @staticmethod
    def get_total_actions():
        """Five actions: stay, up, down, left, right."""
        return 5

    def reset(self):
        """A new episode; returns every agent's observation, flattened into one vector."""
        self._grid_config = self.env.grid_config
        self._observations, _ = self.env.reset()
        return np.array(self._observations).flatten()

    def save_replay(self):
        """PyMARL's hook (nothing to save)."""

    def render(self, *args, **kwargs):
        return self.env.render(*args, **kwargs)

    def get_env_info(self):
        """Shapes and limits PyMARL sizes its networks with."""
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "n_actions": self.get_total_actions(),
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
        }

    @staticmethod
    def get_stats():
        """PyMARL's hook (no extra stats)."""
        return {}

    def close(self):
        """Nothing to release."""

    def sample_actions(self):
        """Random actions for every agent."""
        return self.env.sample_actions()
