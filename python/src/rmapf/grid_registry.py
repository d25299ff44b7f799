"""pogema's grid registry: maps registered by name and used through ``GridConfig(map_name=...)``.

As in pogema 1.4.0, a registered map replaces the obstacles of every config that names it (the
config's own ``map`` or random obstacles), and only its obstacles: its agents and targets are
kept on the ``RegisteredGrid`` for the caller to pass as ``agents_xy``/``targets_xy``.
"""
import numpy as np

from .errors import ConfigKeyError, TaskError

#: Registered grids by name.
GRID_STR_REGISTRY = {}


def in_registry(name):
    """Whether a grid is registered under ``name``."""
    return name in GRID_STR_REGISTRY


def get_grid(name):
    """The grid registered under ``name`` (``KeyError`` when there is none)."""
    if not in_registry(name):
        raise ConfigKeyError(f"Grid with name {name} not found (registered: {sorted(GRID_STR_REGISTRY)})")
    return GRID_STR_REGISTRY[name]


def register_grid(grid):
    """Registers ``grid`` under its name (``KeyError`` if the name is taken)."""
    if in_registry(grid.name):
        raise ConfigKeyError(f"Grid with name {grid.name} already registered")
    GRID_STR_REGISTRY[grid.name] = grid


def _parse(grid_str):
    """``.``/``#`` rows with lowercase agents and uppercase targets, as pogema's registry reads
    them: ``(obstacles, {letter: cell}, {letter: cell})``."""
    rows, agents, targets = [], {}, {}
    for r, line in enumerate(grid_str.split()):
        row = []
        for c, char in enumerate(line):
            if char not in ".#" and not ("a" <= char <= "z" or "A" <= char <= "Z"):
                raise ConfigKeyError(f"Unsupported symbol {char!r} at line {r}")
            if char.isupper():
                targets[char.lower()] = (len(rows), c)
            elif char.islower():
                agents[char] = (len(rows), c)
            row.append(1 if char == "#" else 0)
        if rows and len(rows[-1]) != len(row):
            raise ValueError(f"Wrong string size for row {r}: {len(row)} cells, the rows before have {len(rows[-1])}")
        rows.append(row)
    if not rows:
        raise ValueError("the grid string has no rows")
    return rows, agents, targets


class RegisteredGrid:
    """A named map, registered when constructed (pogema's ``RegisteredGrid``): ``grid_str`` with
    optional agent letters (``a``..) and target letters (``A``..), or the positions given as
    ``agents_positions``/``agents_targets``."""

    def __init__(self, name, grid_str=None, agents_positions=None, agents_targets=None):
        if not isinstance(grid_str, str):
            raise TypeError("grid_str must be a string map ('.' free, '#' obstacle, letters for agents/targets)")
        self.name = name
        self.grid_str = grid_str
        self.agents_positions = agents_positions
        self.agents_targets = agents_targets
        rows, agents, targets = _parse(grid_str)
        self.obstacles = np.array(rows, dtype=np.int32)
        if agents_positions and agents:
            raise ValueError("Agents positions are already defined in the grid string!")
        if agents_targets and targets:
            raise ValueError("Agents targets are already defined in the grid string!")
        self.agents_xy = [list(agents[k]) for k in sorted(agents)] if agents else agents_positions
        self.targets_xy = [list(targets[k]) for k in sorted(targets)] if targets else agents_targets
        if in_registry(name):
            raise ValueError(f"Grid with name {name} already registered!")
        self._check()
        register_grid(self)

    def _check(self):
        starts, goals = self.agents_xy, self.targets_xy
        if bool(starts) != bool(goals):
            raise TaskError("Agents and targets must be defined together/undefined together!")
        if not starts:
            return
        if len(starts) != len(goals):
            raise TaskError("Can't create task. Please provide agents_xy and targets_xy of the same size.")
        h, w = self.obstacles.shape
        for i, cell in enumerate(starts):
            if list(cell) in [list(c) for c in starts[:i]]:
                raise ValueError(f"Agents can't overlap! {cell} is taken by two agents.")
        for x, y in list(starts) + list(goals):
            if not (0 <= x < h and 0 <= y < w):
                raise TaskError(f"Cell {x, y} is outside the {h}x{w} grid.")
            if self.obstacles[x, y]:
                raise ConfigKeyError(f"Cell is {x, y} occupied by obstacle.")

    def get_obstacles(self):
        """The obstacle grid (``int32``, 1 = obstacle)."""
        return self.obstacles

    def get_agents_xy(self):
        """The agents' start cells, or ``None``."""
        return self.agents_xy

    def get_targets_xy(self):
        """The targets, or ``None``."""
        return self.targets_xy

    def render(self):
        """Prints the grid: ``#`` obstacles, agent indices, targets in ``|i|``."""
        starts = {tuple(c): i for i, c in enumerate(self.agents_xy or [])}
        goals = {tuple(c): i for i, c in enumerate(self.targets_xy or [])}
        for x, row in enumerate(self.obstacles):
            cells = []
            for y, v in enumerate(row):
                if v:
                    cells.append(" # ")
                elif (x, y) in starts:
                    cells.append(f" {starts[(x, y)] % 10} ")
                elif (x, y) in goals:
                    cells.append(f"|{goals[(x, y)] % 10}|")
                else:
                    cells.append(" . ")
            print("".join(cells))
