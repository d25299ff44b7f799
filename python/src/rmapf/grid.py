"""pogema's ``env.grid`` (its ``Grid``/``GridLifeLong``) for an rmapf environment: a view of the
Rust simulator's episode, read when asked, so it always shows the current step. The edits pogema's
grid offers that the simulator supports (moving an agent to a cell, hiding and showing an agent,
setting a goal) go to the simulator; the arrays it returns are read-only copies, so code that
would change pogema's grid in place gets an error instead of a change that does nothing."""
import collections
import copy
import numbers
import string
import sys
from types import MappingProxyType

import numpy as np

from .grid_config import GridConfig  # noqa: F401 - pogema.grid exports it too
from .grid_registry import get_grid, in_registry  # noqa: F401 - pogema.grid imports them too


class _CellList(list):
    """A list of padded ``(x, y)`` tuples whose item assignment edits the simulator
    (pogema's ``grid.finishes_xy[i] = x, y`` and ``grid.positions_xy[i] = x, y``)."""

    def __init__(self, cells, assign):
        super().__init__(cells)
        self._assign = assign

    def __setitem__(self, index, xy):
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError("set one agent's cell: grid.<cells>[agent] = (x, y)")
        x, y = _cell(xy)
        i = range(len(self))[index]  # IndexError as a list gives
        self._assign(i, x, y)
        super().__setitem__(i, (x, y))

    def _frozen(self, *args, **kwargs):
        raise TypeError("the agents' cells are one per agent: assign one item, do not resize the list")

    __delitem__ = append = extend = insert = pop = remove = clear = __iadd__ = __imul__ = sort = reverse = _frozen


def _cell(xy):
    """``xy`` as a ``(x, y)`` pair of ints, or a ``TypeError``."""
    try:
        x, y = xy
    except (TypeError, ValueError):
        x = y = None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (x, y)):
        raise TypeError(f"a cell is a pair of integers (x, y), not {xy!r}")
    return int(x), int(y)


def _read_only(array):
    """``array``, made read-only."""
    array.flags.writeable = False
    return array


#: The characters pogema draws agents with (``string.digits + ascii_letters + punctuation``).
_AGENT_CHARS = string.digits + string.ascii_letters + string.punctuation


def _colour(text, code):
    """``text`` in the ANSI colour ``code`` (gymnasium's ``colorize``, which pogema draws with)."""
    return f"\x1b[{code}m{text}\x1b[0m"


def render_text(obstacles, positions_xy, targets_xy, is_active):
    """pogema 1.4.0's ``render_grid`` text of a padded grid: per cell, an active agent's index in
    bold red, else an active agent's goal as ``|i|``, else `` . `` (free) or a cyan block."""
    agents = {tuple(xy): i for i, xy in enumerate(positions_xy) if is_active[i]}
    goals = {tuple(xy): i for i, xy in enumerate(targets_xy) if is_active[i]}
    lines = []
    for x, row in enumerate(obstacles):
        cells = []
        for y, cell in enumerate(row):
            if cell != 0:
                cells.append(_colour("   ", "46"))
            elif (x, y) in agents:
                cells.append(_colour(f" {_AGENT_CHARS[agents[x, y] % len(_AGENT_CHARS)]} ", "31;1"))
            elif (x, y) in goals:
                cells.append(_colour(f"|{_AGENT_CHARS[goals[x, y] % len(_AGENT_CHARS)]}|", "37"))
            else:
                cells.append(_colour(" . ", "37"))
        lines.append("".join(cells) + "\n")
    return "".join(lines)


class Grid:
    """pogema 1.4.0's ``Grid``: an episode's map, agents and goals with padded coordinates (the
    obstacle ring of width ``obs_radius`` around the map counts), as ``env.grid`` returns it.

    ``Grid(grid_config)`` builds the instance of ``grid_config`` as pogema's ``Grid`` does (the
    same obstacles, starts and goals, since it is the instance the environment would reset to).
    """

    def __init__(self, grid_config, add_artificial_border=True, num_retries=10):
        from .env import PogemaEnv

        if add_artificial_border is not True:
            raise ValueError("rmapf's grids always carry pogema's border ring (add_artificial_border=True)")
        if isinstance(num_retries, bool) or not isinstance(num_retries, numbers.Integral):
            raise TypeError(f"num_retries must be an integer, not {type(num_retries).__name__}")
        if num_retries < 0:
            raise ValueError(f"num_retries must be >= 0, got {num_retries}")
        # A seeded instance is drawn the same way every time, so retries only matter without a
        # seed: there, as in pogema, up to num_retries fresh draws, with pogema's warning.
        self._env = PogemaEnv(grid_config, placement_retries=int(num_retries))
        self._env.reset()

    @classmethod
    def of(cls, env):
        """The grid of ``env``'s current episode (read when asked: it follows the episode)."""
        grid = cls.__new__(cls)
        grid._env = env
        return grid

    def _state(self):
        return self._env._state()

    @property
    def config(self):
        """The environment's ``GridConfig``."""
        return self._env.grid_config

    def get_grid_config(self):
        """A deep copy of the config (pogema's ``get_grid_config``)."""
        return copy.deepcopy(self.config)

    @property
    def obstacles(self):
        """The padded obstacle grid (read-only float64 copy; 1 = obstacle)."""
        return _read_only(self._env.get_obstacles())

    @property
    def positions(self):
        """The padded occupancy grid: 1.0 where an active agent stands (read-only float64 copy)."""
        s, r = self._state(), self.config.obs_radius
        out = np.zeros(self._env._batch.padded_obstacles(0).shape)
        for x, y in s["occupied"]:
            out[x + r, y + r] = 1.0
        return _read_only(out)

    @property
    def positions_xy(self):
        """Every agent's padded cell, hidden agents included; ``positions_xy[i] = (x, y)`` moves
        agent ``i`` there (pogema's ``move_agent_to_cell``)."""
        return _CellList(self._env.get_agents_xy(), self.move_agent_to_cell)

    @property
    def finishes_xy(self):
        """Every agent's padded goal; ``finishes_xy[i] = (x, y)`` gives agent ``i`` that goal (as
        pogema's lifelong environment assigns goals)."""
        return _CellList(self._env.get_targets_xy(), self._set_goal)

    @property
    def starts_xy(self):
        """What pogema 1.4.0's ``starts_xy`` holds: the agents' current cells, since pogema's grid
        makes ``positions_xy`` the same list and moves agents in it. The start cells themselves are
        what ``get_agents_xy_relative`` counts from."""
        return self._env.get_agents_xy()

    @property
    def is_active(self):
        """``{agent: active}`` (read-only; finished agents of ``on_target='finish'`` are hidden)."""
        return MappingProxyType(dict(enumerate(self._state()["active"])))

    def get_obstacles(self, ignore_borders=False):
        """The obstacle grid, padded unless ``ignore_borders`` (float64)."""
        return self._env.get_obstacles(ignore_borders=ignore_borders)

    def get_agents_xy(self, only_active=False, ignore_borders=False):
        """Agent positions (padded tuples, or unpadded lists with ``ignore_borders``)."""
        return self._env.get_agents_xy(only_active=only_active, ignore_borders=ignore_borders)

    def get_targets_xy(self, only_active=False, ignore_borders=False):
        """Current goals, like ``get_agents_xy``."""
        return self._env.get_targets_xy(only_active=only_active, ignore_borders=ignore_borders)

    def get_agents_xy_relative(self):
        """Positions relative to each agent's start cell."""
        return self._env.get_agents_xy_relative()

    def get_targets_xy_relative(self):
        """Goals relative to each agent's start cell."""
        return self._env.get_targets_xy_relative()

    def get_state(self, ignore_borders=False, as_dict=False):
        """pogema's ``get_state`` (see ``PogemaEnv.get_state``)."""
        return self._env.get_state(ignore_borders=ignore_borders, as_dict=as_dict)

    def get_observation_shape(self):
        """``(2, 2r + 1, 2r + 1)``, as pogema's grid says (its observations have 3 channels)."""
        side = 2 * self.config.obs_radius + 1
        return 2, side, side

    def get_num_actions(self):
        """The number of actions (5)."""
        return len(self.config.MOVES)

    def _cell_and_goal(self, agent_id):
        """Agent ``agent_id``'s padded cell and goal, from one read of the episode."""
        s, r = self._state(), self.config.obs_radius
        (x, y), (fx, fy) = s["positions"][agent_id], s["goals"][agent_id]
        return (x + r, y + r), (fx + r, fy + r)

    def _window(self, grid, agent_id):
        (x, y), _ = self._cell_and_goal(agent_id)
        r = self.config.obs_radius
        return grid[x - r:x + r + 1, y - r:y + r + 1].astype(np.float32)

    def get_obstacles_for_agent(self, agent_id):
        """Agent ``agent_id``'s obstacle window (float32)."""
        return self._window(self.obstacles, agent_id)

    def get_positions(self, agent_id):
        """Agent ``agent_id``'s window of the occupancy grid (float32)."""
        return self._window(self.positions, agent_id)

    def get_target(self, agent_id):
        """The unit vector from agent ``agent_id`` to its goal (``(0.0, 0.0)`` on the goal)."""
        (x, y), (fx, fy) = self._cell_and_goal(agent_id)
        if x == fx and y == fy:
            return 0.0, 0.0
        rx, ry = fx - x, fy - y
        dist = np.sqrt(rx ** 2 + ry ** 2)
        return rx / dist, ry / dist

    def get_square_target(self, agent_id):
        """The goal as a one-hot window, clamped onto the border when out of view (float32)."""
        r = self.config.obs_radius
        out = np.zeros((2 * r + 1, 2 * r + 1))
        (x, y), (fx, fy) = self._cell_and_goal(agent_id)
        dx = min(max(x - fx, -r), r)
        dy = min(max(y - fy, -r), r)
        out[r - dx, r - dy] = 1
        return out.astype(np.float32)

    def has_obstacle(self, x, y):
        """Whether the padded cell ``(x, y)`` is an obstacle."""
        return bool(self._env._batch.padded_obstacles(0)[x, y])

    def on_goal(self, agent_id):
        """Whether agent ``agent_id`` stands on its goal."""
        cell, goal = self._cell_and_goal(agent_id)
        return cell == goal

    def render(self, mode="human"):
        """pogema's text picture of the padded grid, character for character and colour for colour
        (ANSI escapes: obstacles and the border as cyan blocks, active agents as red indices,
        their goals as ``|i|``): printed for ``"human"``, returned for ``"ansi"``."""
        if mode not in ("human", "ansi"):
            raise ValueError(f"render mode must be 'human' or 'ansi', not {mode!r}")
        text = render_text(self.get_obstacles(), self.positions_xy, self.finishes_xy, self.is_active)
        if mode == "ansi":
            return text
        sys.stdout.write(text)
        return None

    def move_agent_to_cell(self, agent_id, x, y):
        """Moves agent ``agent_id`` to the free padded cell ``(x, y)`` (pogema's edit: a
        ``KeyError`` for a hidden agent, a ``ValueError`` for a blocked cell)."""
        self._env._batch.move_agent_to_cell(0, self._agent(agent_id), int(x), int(y))

    def _set_goal(self, agent_id, x, y):
        self._env._batch.set_goal(0, self._agent(agent_id), int(x), int(y))

    def hide_agent(self, agent_id):
        """Takes agent ``agent_id`` off the grid; whether it was active."""
        return self._env._batch.hide_agent(0, self._agent(agent_id))

    def show_agent(self, agent_id):
        """Puts agent ``agent_id`` back on the grid; whether it was hidden."""
        return self._env._batch.show_agent(0, self._agent(agent_id))

    def _agent(self, agent_id):
        if isinstance(agent_id, bool) or not isinstance(agent_id, (int, np.integer)):
            raise TypeError(f"an agent is an integer index, not {agent_id!r}")
        return range(self._env._n)[agent_id]

    def move(self, agent_id, action):
        """Not offered: rmapf moves agents in ``env.step`` under the config's collision rule."""
        raise NotImplementedError("rmapf moves agents in env.step(actions), under the config's collision_system; "
                                  "to place an agent, use grid.move_agent_to_cell(agent_id, x, y)")

    move_without_checks = move


class GridLifeLong(Grid):
    """pogema's ``GridLifeLong``: a lifelong episode's grid, the same instance as ``Grid``'s, with
    the connected-component tables pogema's goal generator reads (``component_to_points``,
    ``point_to_component``; rmapf's goal streams use the Rust core's own). Like pogema's, building
    one warns for each agent whose goal lies in another component than its start."""

    def __init__(self, grid_config, add_artificial_border=True, num_retries=10):
        super().__init__(grid_config, add_artificial_border, num_retries)
        if not self._env._lifelong():  # a lifelong env has warned at its reset already
            self._env._warn_goals_out_of_reach(stacklevel=3)

    def _component_ids(self):
        """pogema's component id per padded cell (``float64``, as pogema numbers them in its
        obstacle grid's dtype): 1.0 on obstacles, then 2.0, 3.0, ... in row-major order."""
        labels = self._env._batch.component_labels(0)
        return np.where(labels == 0, 1.0, labels + 1.0)

    @property
    def point_to_component(self):
        """pogema's ``point_to_component``: padded ``(x, y)`` -> component id, every cell of the
        padded grid (obstacles under 1.0)."""
        ids = self._component_ids()
        return {(x, y): ids[x, y] for x in range(ids.shape[0]) for y in range(ids.shape[1])}

    @property
    def component_to_points(self):
        """pogema's ``component_to_points``: component id -> its padded ``(x, y)`` cells in
        row-major order (a ``defaultdict(list)``, as pogema's)."""
        ids = self._component_ids()
        table = collections.defaultdict(list)
        for x in range(ids.shape[0]):
            for y in range(ids.shape[1]):
                table[ids[x, y]].append((x, y))
        return table
