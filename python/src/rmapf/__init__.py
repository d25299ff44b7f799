"""rmapf: a POGEMA 1.4.0-exact multi-agent pathfinding simulator written in Rust.

``import rmapf as pogema`` is a drop-in for pogema 1.4.0: ``pogema_v0(grid_config)`` gives the raw
env or, by ``grid_config.integration``, the ``'SampleFactory'``, ``'PyMARL'``, ``'PettingZoo'`` or
``'gymnasium'`` env; ``AStarAgent``/``BatchAStarAgent`` act as pogema's do; importing the package
registers ``gymnasium.make("Pogema-v0")``. ``rmapf.VecEnv`` steps many episodes at once over
numpy arrays. ``rmapf.train`` and ``rmapf.evaluate`` run the trainer and the evaluator of the
binaries; ``rmapf.ray`` runs evaluations and training sweeps on a Ray cluster. pogema's module
paths are mirrored (``rmapf.wrappers.metrics``, ``rmapf.integrations.sample_factory``, ...), and
``rmapf.install_as_pogema()`` makes ``import pogema`` itself resolve to rmapf.
"""
from .a_star import AStarAgent, BatchAStarAgent
from .animation import AnimationConfig, AnimationMonitor
from .env import AgentState, PogemaEnv
from .errors import ConfigKeyError
from . import grid_registry
from .grid_config import GridConfig, as_grid_config
from .pogema_alias import install_as_pogema
from .tools import evaluate, train
from .vec_env import VecEnv

__version__ = "0.1.0"
__all__ = [
    "GridConfig",
    "pogema_v0",
    "AStarAgent",
    "BatchAStarAgent",
    "AnimationMonitor",
    "AnimationConfig",
    "PogemaEnv",
    "VecEnv",
    "AgentState",
    "train",
    "evaluate",
    "install_as_pogema",
]

#: The integrations pogema 1.4.0 accepts.
INTEGRATIONS = (None, "SampleFactory", "PyMARL", "rllib", "gymnasium", "PettingZoo")


def pogema_v0(grid_config=None, *args, **kwargs):
    """pogema's ``pogema_v0``/``make_pogema``: the raw env, or the env of
    ``grid_config.integration`` (Sample Factory, PyMARL, a PettingZoo ``ParallelEnv`` or a
    single-agent Gymnasium env). Extra arguments go to the PyMARL env, as in pogema."""
    grid_config = as_grid_config(grid_config)
    kind = grid_config.integration
    if kind not in INTEGRATIONS:
        raise ConfigKeyError(f"unknown integration {kind!r}; use one of {list(INTEGRATIONS)}")
    if kind != "SampleFactory" and grid_config.auto_reset:
        raise ConfigKeyError(f"integration {kind!r} does not support auto_reset (only 'SampleFactory' does)")
    if kind is None:
        return PogemaEnv(grid_config)
    if kind == "SampleFactory":
        from .integrations import make_sample_factory

        return make_sample_factory(grid_config)
    if kind == "PyMARL":
        from .integrations import PyMarlPogema

        return PyMarlPogema(grid_config, *args, **kwargs)
    if kind == "PettingZoo":
        from .pettingzoo import PogemaParallel

        return PogemaParallel(grid_config)
    if kind == "gymnasium":
        from .integrations import make_single_agent_gym

        return make_single_agent_gym(grid_config)
    raise NotImplementedError("use the PettingZoo integration for rllib")


def _register_gymnasium():
    """``gymnasium.make("Pogema-v0")``, as ``import pogema`` registers it (left alone if pogema,
    imported first, registered its own), and ``"rmapf/Pogema-v0"`` always."""
    try:
        import gymnasium
    except ImportError:
        return
    entry = "rmapf.integrations:make_single_agent_gym"
    if "Pogema-v0" not in gymnasium.registry:
        gymnasium.register(id="Pogema-v0", entry_point=entry)
    if "rmapf/Pogema-v0" not in gymnasium.registry:
        gymnasium.register(id="rmapf/Pogema-v0", entry_point=entry)


_register_gymnasium()
