"""pogema 1.4.0's ``pogema.envs`` path: its raw env classes (``Pogema``, ``PogemaLifeLong``,
``PogemaCoopFinish``), the seeded ``ActionsSampler`` and ``_make_pogema`` (the raw env with pogema's
time limit and metrics, which client code imports from here), and the wrappers and grids that
pogema's module imports (client code imports them from here too).

The raw classes run on rmapf's Rust core like every rmapf env: their rules and goal streams live
there, so of pogema's private methods only ``_generate_new_target`` is offered (it draws from the
core's goal stream); ``move_agents``, ``_revert_action`` and the like are not, and subclasses that
override them cannot change the rules."""
import numpy as np

from .env import PogemaEnv, env_json
from .grid import Grid, GridLifeLong
from .grid_config import GridConfig, as_grid_config
from .wrappers.metrics import (
    CSRMetric,
    EpLengthMetric,
    ISRMetric,
    LifeLongAverageThroughputMetric,
    NonDisappearCSRMetric,
    NonDisappearEpLengthMetric,
    NonDisappearISRMetric,
    SumOfCostsAndMakespanMetric,
)
from .wrappers.multi_time_limit import MultiTimeLimit
from .wrappers.persistence import PersistentWrapper


class ActionsSampler:
    """Random actions from numpy's ``default_rng(seed)``: ``sample_actions(dim)`` draws ``dim``
    integers below ``num_actions`` (pogema's sampler, which its tests use)."""

    def __init__(self, num_actions, seed=42):
        self._num_actions = num_actions
        self._rnd = None
        self.update_seed(seed)

    def update_seed(self, seed=None):
        """Restarts the stream from ``seed`` (``None``: fresh entropy)."""
        self._rnd = np.random.default_rng(seed)

    def sample_actions(self, dim=1):
        """``dim`` actions as an integer array."""
        return self._rnd.integers(self._num_actions, size=dim)


#: The core's longest episode: the raw classes have no time limit (pogema's ``MultiTimeLimit``
#: adds it), so their episodes run this long.
_UNLIMITED_STEPS = 2**32 - 1


class Pogema(PogemaEnv):
    """pogema's raw ``Pogema``: agents that reach their goals are hidden and inactive (its
    ``finish`` rules, whatever ``grid_config.on_target`` says), no time limit (``truncated`` is
    always false) and no metrics in ``infos``; ``pogema_v0`` adds both."""

    _ON_TARGET = "finish"

    def __init__(self, grid_config=None):
        super().__init__(GridConfig(num_agents=2) if grid_config is None else grid_config)

    def _env_json(self):
        return env_json(self.grid_config, on_target=self._ON_TARGET, max_episode_steps=_UNLIMITED_STEPS)

    def step(self, action):
        obs, rewards, terminated, truncated, infos = super().step(action)
        infos[0].pop("metrics", None)
        return obs, rewards, terminated, truncated, infos


class PogemaLifeLong(Pogema):
    """pogema's raw ``PogemaLifeLong``: an agent that reaches its goal gets the next one (its
    ``restart`` rules): from its ``targets_xy`` sequence, cycling (``current_goal_indices``, with
    pogema's warning when a sequence starts again), or drawn as pogema draws it;
    ``terminated`` is always false."""

    _ON_TARGET = "restart"


class PogemaCoopFinish(Pogema):
    """pogema's raw ``PogemaCoopFinish``: agents stay on their goals (its ``nothing`` rules) and
    every agent is rewarded and terminated on the step all of them stand on their goals."""

    _ON_TARGET = "nothing"

    def __init__(self, grid_config=None):
        super().__init__(grid_config)
        self.num_agents = self.grid_config.num_agents
        self.is_multiagent = True


def _make_pogema(grid_config):
    """pogema's ``_make_pogema``: the env of ``grid_config`` with its time limit and metrics (what
    ``pogema_v0`` gives without an ``integration``)."""
    return PogemaEnv(as_grid_config(grid_config))


__all__ = ["Pogema", "PogemaLifeLong", "PogemaCoopFinish", "ActionsSampler", "GridConfig", "Grid", "GridLifeLong",
           "MultiTimeLimit", "PersistentWrapper", "CSRMetric", "EpLengthMetric",
           "ISRMetric", "LifeLongAverageThroughputMetric", "NonDisappearCSRMetric",
           "NonDisappearEpLengthMetric", "NonDisappearISRMetric", "SumOfCostsAndMakespanMetric"]
