"""pogema 1.4.0's ``pogema.wrappers.multi_time_limit``: Gymnasium's ``TimeLimit`` for a multi-agent
env, which truncates every agent once the step budget is spent."""
from gymnasium.wrappers import TimeLimit

from ..errors import ElapsedStepsError


class MultiTimeLimit(TimeLimit):
    """``TimeLimit(env, max_episode_steps)`` whose ``step`` returns every agent truncated from the
    ``max_episode_steps``-th step on (the wrapped env's own flags before that)."""

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._elapsed_steps += 1
        if self._elapsed_steps >= self._max_episode_steps:
            truncated = [True] * self.unwrapped.get_num_agents()
        return observation, reward, terminated, truncated, info

    def set_elapsed_steps(self, elapsed_steps):
        """Sets the steps already spent (a persistent env's rewind); pogema allows it only with
        ``persistent=True``."""
        if not self.unwrapped.grid_config.persistent:
            raise ValueError("Cannot set elapsed steps for non-persistent environment!")
        if elapsed_steps < 0:
            raise ElapsedStepsError(f"elapsed steps must be at least 0, not {elapsed_steps}")
        self._elapsed_steps = elapsed_steps


__all__ = ["MultiTimeLimit"]
