"""pogema 1.4.0's ``pogema.integrations.pettingzoo`` path: the PettingZoo parallel env."""
from ..grid_config import GridConfig
from ..pettingzoo import PogemaParallel, parallel_env

__all__ = ["GridConfig", "PogemaParallel", "parallel_env"]
