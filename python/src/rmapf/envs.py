"""pogema 1.4.0's ``pogema.envs`` path, as far as rmapf has it: the seeded ``ActionsSampler`` and
``_make_pogema`` (the raw env with pogema's time limit and metrics, which client code imports from
here), and the wrappers and ``Grid`` that pogema's module imports (client code imports them from
here too). pogema's env classes themselves (``Pogema``, ``PogemaLifeLong``, ``PogemaCoopFinish``) are
not offered: rmapf has one env class, ``PogemaEnv``, whose rules and goal streams live in the
Rust core, so subclasses that override pogema's private methods cannot work on it."""
import numpy as np

from .env import PogemaEnv
from .grid import Grid
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


def _make_pogema(grid_config):
    """pogema's ``_make_pogema``: the env of ``grid_config`` with its time limit and metrics (what
    ``pogema_v0`` gives without an ``integration``)."""
    return PogemaEnv(as_grid_config(grid_config))


__all__ = ["ActionsSampler", "GridConfig", "Grid", "MultiTimeLimit", "CSRMetric", "EpLengthMetric",
           "ISRMetric", "LifeLongAverageThroughputMetric", "NonDisappearCSRMetric",
           "NonDisappearEpLengthMetric", "NonDisappearISRMetric", "SumOfCostsAndMakespanMetric"]
