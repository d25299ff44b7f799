"""rmapf: a POGEMA 1.4.0-exact multi-agent pathfinding simulator written in Rust.

``rmapf.pogema_v0(grid_config)`` is a drop-in for ``pogema.pogema_v0`` (``integration=None``,
``'PettingZoo'`` or ``'gymnasium'``); ``rmapf.VecEnv`` steps many episodes at once over numpy
arrays.
"""
from .animation import AnimationMonitor
from .env import PogemaEnv
from .grid_config import GridConfig
from .vec_env import VecEnv

__version__ = "0.1.0"
__all__ = ["AnimationMonitor", "GridConfig", "PogemaEnv", "VecEnv", "pogema_v0"]


def pogema_v0(grid_config=None, **kwargs):
    """pogema's ``pogema_v0``/``make_pogema``: the raw env, a PettingZoo ``ParallelEnv`` or a
    single-agent Gymnasium env, chosen by ``grid_config.integration``."""
    if grid_config is None:
        grid_config = GridConfig(**kwargs)
    elif isinstance(grid_config, dict):
        grid_config = GridConfig(**grid_config)
    if not isinstance(grid_config, GridConfig):
        raise TypeError("grid_config must be an rmapf.GridConfig or a dict of its fields")
    if grid_config.integration != "SampleFactory" and grid_config.auto_reset:
        raise ValueError(f"integration {grid_config.integration!r} does not support auto_reset")
    kind = grid_config.integration
    if kind is None:
        return PogemaEnv(grid_config)
    if kind == "PettingZoo":
        from .pettingzoo import PogemaParallel

        return PogemaParallel(grid_config)
    if kind == "gymnasium":
        from .gym import SingleAgentEnv

        return SingleAgentEnv(grid_config)
    if kind == "rllib":
        raise NotImplementedError("use the PettingZoo integration for rllib")
    raise NotImplementedError(f"integration {kind!r} is not provided by rmapf (use None, 'PettingZoo' or 'gymnasium')")
