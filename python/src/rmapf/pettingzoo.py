"""PettingZoo ``ParallelEnv`` over :class:`rmapf.env.PogemaEnv` (pogema's ``PogemaParallel``)."""
import functools

import numpy as np
from pettingzoo import ParallelEnv

from .env import PogemaEnv


class PogemaParallel(ParallelEnv):
    """Agents ``player_i``; float32 observations; missing actions are 0 (stay). ``step`` returns
    entries for the agents live before the step, then drops inactive ones (all at episode end)."""

    metadata = {"render_modes": ["ansi"], "name": "rmapf_pogema"}

    def __init__(self, grid_config, render_mode="ansi"):
        self.render_mode = render_mode
        self.pogema = PogemaEnv(grid_config)
        if self.pogema.grid_config.observation_type != "default":
            raise ValueError("the PettingZoo integration needs observation_type='default' (array observations)")
        self.possible_agents = [f"player_{i}" for i in range(self.pogema.get_num_agents())]
        self.agent_name_mapping = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents = []
        self.num_moves = None  # pogema's attribute: None until the first reset, then 0

    @functools.lru_cache(maxsize=None)
    def observation_space(self, agent):
        return self.pogema.observation_space

    @functools.lru_cache(maxsize=None)
    def action_space(self, agent):
        return self.pogema.action_space

    def reset(self, seed=None, options=None):
        obs, infos = self.pogema.reset(seed=seed, options=options)
        self.agents = self.possible_agents[:]
        self.num_moves = 0
        return ({a: obs[i].astype(np.float32) for a, i in self.agent_name_mapping.items()},
                {a: infos[i] for a, i in self.agent_name_mapping.items()})

    def step(self, actions):
        m = self.agent_name_mapping
        flat = [actions.get(a, 0) for a in self.possible_agents]
        obs, rewards, terminated, truncated, infos = self.pogema.step(flat)
        live = list(self.agents)
        out = ({a: obs[m[a]].astype(np.float32) for a in live}, {a: rewards[m[a]] for a in live},
               {a: terminated[m[a]] for a in live}, {a: truncated[m[a]] for a in live}, {a: infos[m[a]] for a in live})
        ended = all(truncated) or all(terminated)
        self.agents = [a for a in live if infos[m[a]]["is_active"] and not ended]
        return out

    def render(self, mode="human"):
        """pogema's picture of the grid: printed for ``"human"`` (pogema's only mode), returned
        as text for ``"ansi"``."""
        return self.pogema.render(mode=mode)

    def state(self):
        return self.pogema.get_obstacles()

    def close(self):
        pass


def parallel_env(grid_config):
    """pogema's ``parallel_env`` entry point."""
    return PogemaParallel(grid_config)
