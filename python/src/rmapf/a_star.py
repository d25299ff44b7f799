"""pogema 1.4.0's A* agents (``AStarAgent``, ``BatchAStarAgent``), action for action.

Each agent remembers every obstacle it has seen (cells it has not seen count as free, outside
the map too), plans with A* on that memory every step, and takes the first move of its path.
Exactness needs pogema's own quirks, which are kept on purpose:

- the open list is a binary heap (``heapq``) ordered by f, then g, then a coordinate rule that
  is not a strict order (``a < b`` when ``a.row < b.row`` or ``a.col < b.col``), so ties pop in
  the order heapq's sift happens to leave them;
- a cell is closed when it is first pushed (its parent is its first discoverer), and the search
  stops after 10,000 pops;
- an agent that did not move since its last decision, and is not on its goal, takes a uniformly
  random action from its own generator (``numpy.random.default_rng(seed)``).
"""
import heapq

import numpy as np

from .errors import PositionIndexError

#: pogema's moves: action index -> (Δrow, Δcol).
MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
#: (Δrow, Δcol) -> action index.
ACTION_OF_MOVE = {move: action for action, move in enumerate(MOVES)}
#: pogema's search budget (pops).
MAX_POPS = 10_000


class _Entry:
    """An open-list entry, ordered as pogema's A* orders them (see the module docstring)."""

    __slots__ = ("f", "g", "cell")

    def __init__(self, cell, g, target):
        self.cell = cell
        self.g = g
        self.f = g + _manhattan(cell, target)

    def __lt__(self, other):
        if self.f != other.f:
            return self.f < other.f
        if self.g != other.g:
            return self.g < other.g
        return self.cell[0] < other.cell[0] or self.cell[1] < other.cell[1]


def _manhattan(a, b):
    return abs(a[0] - b[0]) + abs(a[1] - b[1])


def plan(start, target, is_obstacle, max_pops=MAX_POPS):
    """The path from ``start`` to ``target`` (both included) that pogema's A* returns on the
    grid ``is_obstacle(cell) -> bool``, or ``[]`` when the target was not reached."""
    parent = {start: None}
    heap = [_Entry(start, 0, target)]
    for pops in range(int(max_pops)):
        node = heapq.heappop(heap)
        row, col = node.cell
        for cell in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            if cell not in parent and not is_obstacle(cell):
                heapq.heappush(heap, _Entry(cell, node.g + 1, target))
                parent[cell] = node.cell
        if node.cell == target or not heap or pops >= max_pops:
            break
    if target not in parent:
        return []
    path = [target]
    while parent[path[-1]] is not None:
        path.append(parent[path[-1]])
    return path[::-1]


class AStarAgent:
    """pogema's ``AStarAgent``: ``act(obs)`` for one agent's POMAPF/MAPF observation (a dict with
    ``xy``, ``target_xy`` and the ``obstacles`` window); ``clear_state()`` before a new episode."""

    def __init__(self, seed=0):
        self._rnd = np.random.default_rng(seed)
        self.clear_state()

    def clear_state(self):
        """Forgets the map seen so far and the last position (call it between episodes)."""
        self._obstacles = set()
        self._last_xy = None

    def _remember(self, xy, window):
        window = np.asarray(window)
        r = window.shape[0] // 2
        for dr, dc in np.ndindex(window.shape):
            cell = (xy[0] + dr - r, xy[1] + dc - r)
            if window[dr, dc]:
                self._obstacles.add(cell)
            else:
                self._obstacles.discard(cell)

    def act(self, obs):
        """The action (0..4) for observation ``obs``."""
        try:
            xy, target = tuple(obs["xy"]), tuple(obs["target_xy"])
            window = obs["obstacles"]
        except (KeyError, TypeError, IndexError):
            raise TypeError("AStarAgent needs POMAPF or MAPF observations: a dict with 'xy', 'target_xy' "
                            "and 'obstacles' (GridConfig(observation_type='POMAPF'))") from None
        if self._last_xy is not None:
            moved = _manhattan(self._last_xy, xy)
            if moved > 1:
                raise PositionIndexError("Agent moved more than 1 step. Please, call clear_state method before new episode.")
            if moved == 0 and xy != target:
                return self._rnd.integers(len(MOVES))
        self._remember(xy, window)
        path = plan(xy, target, self._obstacles.__contains__)
        action = 0
        if len(path) > 1:
            (row, col), (next_row, next_col) = path[0], path[1]
            action = ACTION_OF_MOVE[(next_row - row, next_col - col)]
        self._last_xy = xy
        return action


class BatchAStarAgent:
    """pogema's ``BatchAStarAgent``: one ``AStarAgent`` (seed 0) per observation index."""

    def __init__(self):
        self.astar_agents = {}

    def act(self, observations):
        """One action per observation, in order."""
        actions = []
        for idx, obs in enumerate(observations):
            if idx not in self.astar_agents:
                self.astar_agents[idx] = AStarAgent()
            actions.append(self.astar_agents[idx].act(obs))
        return actions

    def reset_states(self):
        """Forgets every agent (call it between episodes)."""
        self.astar_agents = {}
