"""pogema 1.4.0's ``pogema.svg_animation.animation_wrapper`` path: the SVG animation monitor and
its options."""
from ..animation import AnimationConfig, AnimationMonitor
from ..env import AgentState
from ..grid_config import GridConfig
from ..wrappers.persistence import PersistentWrapper

__all__ = ["AnimationMonitor", "AnimationConfig", "AgentState", "GridConfig", "PersistentWrapper"]
