"""pogema 1.4.0's A* agents (``AStarAgent``, ``BatchAStarAgent``), action for action.

Each agent remembers every obstacle it has seen (cells it has not seen count as free, outside
the map too), plans with A* on that memory every step, and takes the first move of its path. The
memory and the search run in Rust (``_rmapf.AStarCore``); ``AStarAgent``'s random moves stay here,
on numpy's generator (any seed), and ``BatchAStarAgent`` runs entirely in Rust. Exactness needs
pogema's own quirks, which are kept on purpose:

- the open list is a binary heap (``heapq``) ordered by f, then g, then a coordinate rule that
  is not a strict order (``a < b`` when ``a.row < b.row`` or ``a.col < b.col``), so ties pop in
  the order heapq's sift happens to leave them;
- a cell is closed when it is first pushed (its parent is its first discoverer), and the search
  stops after 10,000 pops;
- an agent that did not move since its last decision, and is not on its goal, takes a uniformly
  random action from its own generator (``numpy.random.default_rng(seed)``).
"""
import numpy as np

from . import _rmapf
from .errors import PositionIndexError

#: pogema's number of actions (stay, up, down, left, right).
NUM_ACTIONS = 5


class AStarAgent:
    """pogema's ``AStarAgent``: ``act(obs)`` for one agent's POMAPF/MAPF observation (a dict with
    ``xy``, ``target_xy`` and the ``obstacles`` window); ``clear_state()`` before a new episode."""

    def __init__(self, seed=0):
        self._rnd = np.random.default_rng(seed)
        self._core = _rmapf.AStarCore()
        self.clear_state()

    def clear_state(self):
        """Forgets the map seen so far and the last position (call it between episodes)."""
        self._core.clear()
        self._last_xy = None

    def act(self, obs):
        """The action (0..4) for observation ``obs``."""
        try:
            xy, target = tuple(obs["xy"]), tuple(obs["target_xy"])
            window = np.ascontiguousarray(obs["obstacles"], dtype=np.float32)
        except (KeyError, TypeError, IndexError):
            raise TypeError("AStarAgent needs POMAPF or MAPF observations: a dict with 'xy', 'target_xy' "
                            "and 'obstacles' (GridConfig(observation_type='POMAPF'))") from None
        if self._last_xy is not None:
            moved = abs(self._last_xy[0] - xy[0]) + abs(self._last_xy[1] - xy[1])
            if moved > 1:
                raise PositionIndexError("Agent moved more than 1 step. Please, call clear_state method before new episode.")
            if moved == 0 and xy != target:
                return self._rnd.integers(NUM_ACTIONS)
        action = self._core.plan(xy, target, window)
        self._last_xy = xy
        return action


class BatchAStarAgent:
    """pogema's ``BatchAStarAgent``: one ``AStarAgent`` (seed 0) per observation index, all of them
    stepped by one Rust call per step (``_rmapf.AStarBatch``; their seed-0 random moves come from
    rmapf's bit-exact ``default_rng(0)``). The agents live in Rust, so pogema's ``astar_agents``
    dict is not there."""

    def __init__(self):
        self._batch = _rmapf.AStarBatch()

    def act(self, observations):
        """One action per observation, in order."""
        return self._batch.act(observations)

    def reset_states(self):
        """Forgets every agent (call it between episodes)."""
        self._batch.reset()
