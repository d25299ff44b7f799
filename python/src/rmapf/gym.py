"""Gymnasium single-agent env: agent 0 is controlled, the others act at random (pogema's
``SingleAgentWrapper``)."""
import gymnasium

from .env import PogemaEnv


class SingleAgentEnv(gymnasium.Env):
    """``reset() -> (obs, info)``, ``step(a) -> (obs, reward, terminated, truncated, info)``."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, grid_config, render_mode=None):
        self.env = PogemaEnv(grid_config)
        if self.env.grid_config.observation_type != "default":
            raise ValueError("the gymnasium integration needs observation_type='default' (array observations)")
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.render_mode = render_mode

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        obs, infos = self.env.reset()
        return obs[0], infos[0]

    def step(self, action):
        others = [int(self.action_space.sample()) for _ in range(self.env.get_num_agents() - 1)]
        obs, rewards, terminated, truncated, infos = self.env.step([int(action)] + others)
        return obs[0], rewards[0], terminated[0], truncated[0], infos[0]

    def render(self):
        return self.env.render(mode="ansi")
