"""pogema 1.4.0's ``pogema.a_star_policy`` path: the A* agents (their search runs in Rust; pogema's
internal helpers ``GridMemory``, ``Node``, ``h`` and ``a_star`` are not offered)."""
from .a_star import AStarAgent, BatchAStarAgent
from .grid_config import GridConfig

__all__ = ["GridConfig", "AStarAgent", "BatchAStarAgent"]
