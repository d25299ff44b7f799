"""The raw multi-agent environment with pogema 1.4.0's signatures (``integration=None``)."""
import sys
import warnings

import numpy as np

from . import _rmapf
from ._buffers import Buffers, as_actions
from .errors import NotPersistentError
from .grid import Grid, GridLifeLong
from .grid_config import as_grid_config, fields_of, to_json
from .grid_registry import get_grid, in_registry


#: How many times pogema's ``Grid`` draws a random instance again when the agents do not fit
#: (its ``num_retries`` default), as the Rust core defines it.
PLACEMENT_RETRIES = _rmapf.PLACEMENT_RETRIES

#: rmapf's follower observations (arrays ``[C, R, R]`` of small integers) and their planes ``C``:
#: obstacles -1 with the planned path +1, agents, other agents' goals (and with intents, how many
#: other agents plan to enter each cell within 3 steps).
FOLLOWER_OBSERVATIONS = {"follower": 3, "follower_intents": 4, "follower_priorities": 5}

#: The metrics pogema 1.4.0 reports (per on-target mode, a subset of these).
POGEMA_METRICS = ("ISR", "CSR", "ep_length", "SoC", "makespan", "avg_throughput")


try:  # pogema's envs are gymnasium envs; gymnasium stays optional for the raw env
    from gymnasium import Env as _EnvBase
    from gymnasium.error import ResetNeeded
except ImportError:  # pragma: no cover - exercised only without gymnasium
    _EnvBase = object

    class ResetNeeded(RuntimeError):
        """gymnasium's ``ResetNeeded``, where gymnasium is not installed."""


def env_json(grid_config, **overrides):
    """The JSON the simulator is built from: ``grid_config``'s fields as they are now (then
    ``overrides``), with the obstacles of a registered ``map_name`` in place of its own (pogema
    replaces them, and only them)."""
    values = {**fields_of(grid_config), **overrides}
    if in_registry(values["map_name"]):
        values["map"] = get_grid(values["map_name"]).get_obstacles().tolist()
    return to_json(values)


class AgentState:
    """One agent's state in a persistent episode's history (pogema's ``AgentState``): padded
    position ``(x, y)``, padded goal ``(tx, ty)``, the step it was recorded at, and whether the
    agent was active. Equality ignores the step."""

    def __init__(self, x, y, tx, ty, step, active):
        self.x, self.y, self.tx, self.ty, self.step, self.active = x, y, tx, ty, step, active

    def get_xy(self):
        return self.x, self.y

    def get_target_xy(self):
        return self.tx, self.ty

    def is_active(self):
        return self.active

    def get_step(self):
        return self.step

    def __eq__(self, other):
        if not isinstance(other, AgentState):
            return NotImplemented
        return (self.x, self.y, self.tx, self.ty, self.active) == (other.x, other.y, other.tx, other.ty, other.active)

    __hash__ = None

    def __str__(self):
        return str([self.x, self.y, self.tx, self.ty, self.step, self.active])

    __repr__ = __str__


class _Pairs(dict):
    """``(x, y)`` tuples of Python ints by a 64-bit key (an int32 pair's 8 bytes read as one
    int64), made once and then shared.

    pogema's observations carry coordinates as tuples. Tuples made anew for every agent at
    every step are what Python's garbage collector spent a third of a 256-agent step on (each
    step's dicts held fresh tuples, so they were tracked and traversed); shared tuples leave
    the per-agent dicts untracked. Tuples are immutable, so sharing them is invisible."""

    #: Entries kept at most; beyond this the table starts again (huge maps, long episodes).
    LIMIT = 1 << 16
    #: Whether a pair's first int32 is its key's low half (a little-endian machine).
    FIRST_IS_LOW = sys.byteorder == "little"

    def __missing__(self, key):
        low = key & 0xFFFFFFFF
        low -= (low & 0x80000000) << 1  # as a signed int32
        high = key >> 32
        pair = self[key] = (low, high) if self.FIRST_IS_LOW else (high, low)
        return pair

    def of(self, xy):
        """The tuples of an ``[N, 2]`` integer array's rows (coordinates fit in int32)."""
        if len(self) > self.LIMIT:
            self.clear()
        if xy.dtype != np.int32 or not xy.flags.c_contiguous:
            xy = np.ascontiguousarray(xy, dtype=np.int32)
        return list(map(self.__getitem__, xy.view(np.int64).ravel().tolist()))


#: The tuples every env shares: pogema-toolbox makes an env per episode, and each fresh table
#: would make every pair again.
_PAIRS = _Pairs()


class PogemaEnv(_EnvBase):
    """pogema's ``Pogema``/``PogemaLifeLong``/``PogemaCoopFinish`` with its wrapper stack
    (time limit and metrics), backed by rmapf's Rust simulator.

    ``reset() -> (obs_list, infos)``; ``step(actions) -> (obs, rewards, terminated, truncated,
    infos)`` with one entry per agent; ``infos[0]['metrics']`` on the step the episode ends.
    """

    metadata = {"render_modes": ["ansi"]}

    #: The on-target rules a raw env class of ``rmapf.envs`` forces (``None``: the config's).
    _ON_TARGET = None

    def __init__(self, grid_config, *, placement_retries=PLACEMENT_RETRIES):
        """``placement_retries``: how many times an unseeded instance whose agents do not fit is
        drawn again (pogema's ``Grid(num_retries=...)``, which ``rmapf.grid.Grid`` passes on)."""
        self.grid_config = as_grid_config(grid_config)
        self._built = None  # the config JSON the simulator was built from (at the first reset)
        self._n = None
        self._instance_seeds = None  # after reset(seed=...) without a config seed
        self._ready = False
        self._global_obstacles = None
        self._pairs = _PAIRS
        self._placement_retries = placement_retries
        self._sequences = None  # a lifelong episode's targets_xy sequences, if it has them
        self._lifelong_attributes(self.grid_config.num_agents)
        self._set_spaces()

    def _build(self):
        """(Re)builds the simulator when ``grid_config``'s fields changed since the last build.
        As in pogema, the config is read at every reset (it is mutable, and pogema-toolbox swaps
        it between episodes), and a task that does not fit its map fails there, not before."""
        text = self._env_json()
        if text == self._built:
            return
        self._batch = _rmapf.Batch([text], 1, False)
        self._batch.set_placement_retries(0, self._placement_retries)
        self._built = text
        self._ready = False
        self._n = self._batch.agents_per_episode[0]
        self._buf = Buffers(self._batch)
        self._set_spaces()

    def _set_spaces(self):
        """Forgets the gymnasium spaces when the observation type or radius changed since they
        were made: they depend on nothing else, and they are made on first use (gymnasium's
        ``Box`` is slow to build, and pogema-toolbox makes an env per episode without reading
        them). A rebuild that keeps both keeps the spaces and their seeded random state."""
        gc = self.grid_config
        key = (gc.observation_type, gc.obs_radius)
        if key != getattr(self, "_spaces_for", None):
            self._spaces_for = key
            self._spaces = {}

    def _space(self, name):
        """The space ``name`` (``action_space`` or ``observation_space``), made on first use
        (``None`` without gymnasium)."""
        if name not in self._spaces:
            self._spaces[name] = self._make_space(name)
        return self._spaces[name]

    def _make_space(self, name):
        try:
            import gymnasium
        except ImportError:  # gymnasium is optional for the raw env
            return None
        if name == "action_space":
            return gymnasium.spaces.Discrete(5)
        gc = self.grid_config
        k = 2 * gc.obs_radius + 1
        if gc.observation_type == "default":
            return gymnasium.spaces.Box(-1.0, 1.0, shape=(3, k, k))
        if gc.observation_type in FOLLOWER_OBSERVATIONS:
            planes = FOLLOWER_OBSERVATIONS[gc.observation_type]
            return gymnasium.spaces.Box(-1.0, 127.0, shape=(planes, k, k))
        return gymnasium.spaces.Dict(
            obstacles=gymnasium.spaces.Box(0.0, 1.0, shape=(k, k)),
            agents=gymnasium.spaces.Box(0.0, 1.0, shape=(k, k)),
            xy=gymnasium.spaces.Box(low=-1024, high=1024, shape=(2,), dtype=int),
            target_xy=gymnasium.spaces.Box(low=-1024, high=1024, shape=(2,), dtype=int),
        )

    @property
    def action_space(self):
        """pogema's action space: ``Discrete(5)``."""
        return self._space("action_space")

    @action_space.setter
    def action_space(self, space):
        self._spaces["action_space"] = space

    @property
    def observation_space(self):
        """pogema's observation space for the config's observation type and radius."""
        return self._space("observation_space")

    @observation_space.setter
    def observation_space(self, space):
        self._spaces["observation_space"] = space

    @property
    def unwrapped(self):
        return self

    @property
    def grid(self):
        """pogema's ``env.grid`` (its ``Grid``): a view of the current episode with pogema's
        padded coordinates and methods; a ``GridLifeLong`` in lifelong episodes (``None`` before the
        first reset, as in pogema)."""
        if not self._ready:
            return None
        return (GridLifeLong if self._lifelong() else Grid).of(self)

    @property
    def was_on_goal(self):
        """pogema's ``was_on_goal``: per agent, whether it stood on its goal, active, after the
        last step's moves (before finished agents were hidden or lifelong goals renewed); after a
        reset, whether it starts on its goal. ``None`` before the first reset."""
        return [bool(g) for g in self._state()["on_goal"]] if self._ready else None

    def check_reset(self):
        """pogema's ``check_reset``: raises ``gymnasium.error.ResetNeeded`` before the first reset."""
        if not self._ready:
            raise ResetNeeded("Please reset environment first!")

    def _relative_to_starts(self, key):
        s = self._state()
        return [(x - sx, y - sy) for (x, y), (sx, sy) in zip(s[key], s["starts"])]

    def get_agents_xy_relative(self):
        """Each agent's position relative to its start cell, as ``(dx, dy)`` tuples."""
        return self._relative_to_starts("positions")

    def get_targets_xy_relative(self):
        """Each agent's goal relative to its start cell, as ``(dx, dy)`` tuples."""
        return self._relative_to_starts("goals")

    def get_num_agents(self):
        """Number of agents (the config's until the first reset builds the episode)."""
        return self.grid_config.num_agents if self._n is None else self._n

    def _obs(self):
        # One float32 copy per step for all agents; each agent's entries are views into it (fresh
        # arrays every step, as pogema's are).
        b, kind = self._buf, self.grid_config.observation_type
        if kind in FOLLOWER_OBSERVATIONS:
            # i8 values stored in the u8 buffer (-1 obstacles, +1 path, counts of goals/intents).
            return list(b.obs.view(np.int8).astype(np.float32))
        obs = b.obs.astype(np.float32)
        if kind == "default":
            return list(obs)
        pairs = self._pairs
        out = [
            {"obstacles": o, "agents": a, "xy": p, "target_xy": t}
            for o, a, p, t in zip(obs[:, 0], obs[:, 1], pairs.of(b.xy), pairs.of(b.target_xy))
        ]
        if kind == "MAPF":
            global_xy, global_target_xy = pairs.of(b.global_xy), pairs.of(b.global_target_xy)
            for i, o in enumerate(out):
                o["global_obstacles"] = self._global_obstacles
                o["global_xy"] = global_xy[i]
                o["global_target_xy"] = global_target_xy[i]
        return out

    def _infos(self):
        return [{"is_active": a} for a in self._buf.active.tolist()]

    def reset(self, seed=None, return_info=True, options=None):
        """Starts an episode on the instance of ``grid_config.seed``, as pogema 1.4.0 does.

        Without a config seed pogema draws every instance from OS entropy and ignores ``seed``;
        here ``reset(seed=s)`` instead starts a reproducible stream of instance seeds (the same
        ``s`` gives the same instances, resets without a seed continue the stream), as Gymnasium
        and PettingZoo require. Fields of ``grid_config`` changed since the last reset apply now.
        """
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, not {seed!r}")
        self._build()
        if _EnvBase is not object:
            super().reset(seed=seed)  # seeds np_random (the single-agent env's other agents)
        if seed is not None:
            self._instance_seeds = np.random.default_rng(int(seed))
        if self.grid_config.seed is None and self._instance_seeds is not None:
            self._batch.set_seed(0, int(self._instance_seeds.integers(2**62)))
        self._batch.reset(self._buf)
        self._ready = True
        redraws = self._batch.placement_redraws(0)
        if 0 < redraws < self._placement_retries:
            # pogema's Grid warns when random placement fitted only after drawing again (it
            # does not when the last allowed draw fitted).
            warnings.warn(f"Created valid configuration only with {redraws} attempts.", Warning, stacklevel=2)
        if self._lifelong():
            self._warn_goals_out_of_reach(stacklevel=3)
        if self.grid_config.persistent:
            self._record_reset()
        targets = self.grid_config.targets_xy
        sequences = bool(targets) and isinstance(targets[0], (list, tuple)) and bool(targets[0]) \
            and isinstance(targets[0][0], (list, tuple))
        self._sequences = targets if self._lifelong_attributes(self._n) and sequences else None
        if self.grid_config.observation_type == "MAPF":
            self._global_obstacles = self._batch.padded_obstacles(0).astype(np.float64)
        obs = self._obs()
        return (obs, self._infos()) if return_info else obs

    def _env_json(self):
        """The simulator's JSON for the current ``grid_config`` (the raw env classes of
        ``rmapf.envs`` override fields)."""
        return env_json(self.grid_config)

    def step(self, actions):
        """One step; a list of actions is rewritten in place where ``soft`` reverts moves, as pogema does."""
        if not self._ready:
            raise RuntimeError("reset() must be called before step()")
        arr = as_actions(actions, self._n)
        finished = self._batch.step(arr, self._buf)
        if self.grid_config.persistent:
            self._record_step()
        b = self._buf
        if isinstance(actions, list):
            actions[:] = b.actions.tolist()
        infos = self._infos()
        if self._sequences is not None:
            self._next_in_sequences()
        if finished:
            # pogema's metric names only (drop-in); VecEnv also reports rmapf's extras.
            infos[0]["metrics"] = {k: v for k, v in finished[0][1].items() if k in POGEMA_METRICS}
        return (self._obs(), b.rewards.tolist(), b.terminated.tolist(),
                b.truncated.tolist(), infos)

    def _lifelong(self):
        """Whether agents get a new goal on arrival (``restart``, the config's or the class's)."""
        return (self._ON_TARGET or self.grid_config.on_target) == "restart"

    def _lifelong_attributes(self, n):
        """Sets pogema's ``PogemaLifeLong`` attributes (``has_custom_sequences``, and
        ``current_goal_indices`` back at 0) when the episode is lifelong; returns whether it is."""
        lifelong = self._lifelong()
        if lifelong:
            self.has_custom_sequences = self.grid_config.targets_xy is not None
            self.current_goal_indices = [0] * n
        return lifelong

    def _goals_out_of_reach(self):
        """The padded ``(start, goal)`` pairs of the agents whose goal lies in another connected
        component of the map than their cell (they can never reach it)."""
        labels = self._batch.component_labels(0)
        r = self.grid_config.obs_radius
        s = self._state()
        return [((x + r, y + r), (tx + r, ty + r)) for (x, y), (tx, ty) in zip(s["positions"], s["goals"])
                if labels[x + r, y + r] != labels[tx + r, ty + r]]

    def _warn_goals_out_of_reach(self, stacklevel):
        """pogema's ``GridLifeLong`` warning for each agent whose goal it cannot reach (pogema
        says the goal is changed, and neither pogema nor rmapf changes it)."""
        for (x, y), (tx, ty) in self._goals_out_of_reach():
            warnings.warn(f"The start point ({x}, {y}) and the goal ({tx}, {ty}) are in different components. "
                          "The goal is changed.", Warning, stacklevel=stacklevel)

    def _next_in_sequences(self):
        """pogema's ``PogemaLifeLong`` with ``targets_xy`` sequences: an agent that reached its
        goal moves on to the next target of its sequence."""
        for i, reached in enumerate(self.was_on_goal):
            if reached:
                self._advance_sequence(i)

    def _advance_sequence(self, i):
        """Agent ``i``'s ``current_goal_indices`` entry one on, with pogema's warning when its
        sequence starts again."""
        count = len(self._sequences[i])
        self.current_goal_indices[i] = (self.current_goal_indices[i] + 1) % count
        if self.current_goal_indices[i] == 0:
            warnings.warn(
                f"Agent {i} has completed all {count} provided targets and is cycling back to the "
                f"beginning. Provide more targets for the {self.grid_config.max_episode_steps} "
                "episode length.", UserWarning, stacklevel=4)

    def _generate_new_target(self, agent_idx):
        """pogema's ``PogemaLifeLong._generate_new_target``: agent ``agent_idx``'s next goal from
        its stream (the next of its ``targets_xy`` sequence, or drawn as pogema draws it), as a
        padded ``(x, y)``, without assigning it; the stream moves on, as pogema's does."""
        if not self._ready:
            raise RuntimeError("reset() must be called first")
        if not self._lifelong():
            raise ValueError("only lifelong episodes (on_target='restart') draw new goals")
        if not 0 <= agent_idx < self._n:
            raise IndexError(f"agent_idx {agent_idx} is not one of the {self._n} agents")
        target = self._batch.draw_goal(0, int(agent_idx))
        if self._sequences is not None:
            self._advance_sequence(agent_idx)
        return target

    def _state(self):
        if not self._ready:
            raise RuntimeError("reset() must be called first")
        return self._batch.snapshot(0)

    def _prepare(self, cells, only_active, ignore_borders):
        r = self.grid_config.obs_radius
        active = self._state()["active"]
        out = []
        for i, (x, y) in enumerate(cells):
            if only_active and not active[i]:
                continue
            out.append([x, y] if ignore_borders else (x + r, y + r))
        return out

    def get_agents_xy(self, only_active=False, ignore_borders=False):
        """Agent positions (padded tuples, or unpadded lists with ``ignore_borders``)."""
        return self._prepare(self._state()["positions"], only_active, ignore_borders)

    def get_targets_xy(self, only_active=False, ignore_borders=False):
        """Current goals, like ``get_agents_xy``."""
        return self._prepare(self._state()["goals"], only_active, ignore_borders)

    def get_obstacles(self, ignore_borders=False):
        """The obstacle grid as float64 (padded with the ring unless ``ignore_borders``)."""
        self._state()
        padded = self._batch.padded_obstacles(0).astype(np.float64)
        if ignore_borders:
            r = self.grid_config.obs_radius
            return padded[r:-r, r:-r].copy()
        return padded

    def map_rows(self):
        """The map as rows of ``.`` (free) and ``#`` (obstacle), without the border ring."""
        return ["".join("#" if v else "." for v in row) for row in self.get_obstacles(ignore_borders=True)]

    def get_state(self, ignore_borders=False, as_dict=False):
        """pogema's ``get_state``: agents' and goals' coordinates scaled by the map size, and the
        obstacles; flat (PyMARL's state vector) or, with ``as_dict``, as a dict."""
        gc = self.grid_config
        if gc.height < 2 or gc.width < 2:
            raise ZeroDivisionError("get_state scales coordinates by height - 1 and width - 1, so it needs a map of at least 2x2")

        def scaled(cells):
            # pogema subtracts the border ring again even after ignore_borders removed it.
            return [((x - gc.obs_radius) / (gc.height - 1), (y - gc.obs_radius) / (gc.width - 1)) for x, y in cells]

        agents_xy = scaled(self.get_agents_xy(ignore_borders=ignore_borders))
        targets_xy = scaled(self.get_targets_xy(ignore_borders=ignore_borders))
        obstacles = self.get_obstacles(ignore_borders=ignore_borders)
        if as_dict:
            return {"obstacles": obstacles, "agents_xy": agents_xy, "targets_xy": targets_xy}
        return np.concatenate([np.array(agents_xy).flatten(), np.array(targets_xy).flatten(), obstacles.flatten()])

    def render(self, mode="human"):
        """pogema's text picture of the padded grid (see ``Grid.render``): printed for
        ``"human"``, returned for ``"ansi"``."""
        self.check_reset()
        return self.grid.render(mode=mode)

    def sample_actions(self):
        """Uniform random actions (numpy's default generator seeded from the config seed)."""
        if not hasattr(self, "_sampler"):
            self._sampler = np.random.default_rng(self.grid_config.seed)
        return self._sampler.integers(5, size=self.get_num_agents())

    # pogema's persistent=True (its PersistentWrapper): a history of each agent's states, and
    # step_back, which rewinds the grid one step. The edits run in rmapf's simulator, in pogema's
    # order, so a rewind ends where pogema's does, or fails where pogema's fails.

    def _persistent(self, what):
        if not self.grid_config.persistent:
            raise NotPersistentError(f"{what} needs GridConfig(persistent=True), as pogema's PersistentWrapper does")
        if not self._ready:
            raise RuntimeError("reset() must be called first")

    def _agent_states(self):
        """Every agent's state now, with padded coordinates (pogema's ``positions_xy``)."""
        s, r = self._state(), self.grid_config.obs_radius
        return [
            AgentState(x + r, y + r, tx + r, ty + r, self._persistent_step, bool(active))
            for (x, y), (tx, ty), active in zip(s["positions"], s["goals"], s["active"])
        ]

    def _record_reset(self):
        self._persistent_step = 0
        self._history = [[state] for state in self._agent_states()]

    def _record_step(self):
        self._persistent_step += 1
        for states, state in zip(self._history, self._agent_states()):
            if state != states[-1]:
                states.append(state)

    def set_elapsed_steps(self, elapsed_steps):
        """pogema's ``MultiTimeLimit.set_elapsed_steps``: the step the time limit counts from
        (persistent environments only)."""
        if not self.grid_config.persistent:
            raise ValueError("Cannot set elapsed steps for non-persistent environment!")
        if isinstance(elapsed_steps, bool) or not isinstance(elapsed_steps, (int, np.integer)):
            raise TypeError(f"elapsed_steps must be an integer, not {elapsed_steps!r}")
        if elapsed_steps < 0:
            raise ValueError(f"elapsed_steps must be >= 0, not {elapsed_steps}")
        self._persistent("set_elapsed_steps")
        self._batch.set_elapsed(0, int(elapsed_steps))

    def step_back(self):
        """pogema's ``PersistentWrapper.step_back``: rewinds the agents (positions, goals,
        activity) and the time limit one step; ``False`` at step 0. The rest of the state is not
        rewound, as in pogema (lifelong goal streams, which agents have reached a goal)."""
        self._persistent("step_back")
        if self._persistent_step <= 0:
            return False
        self._persistent_step -= 1
        self.set_elapsed_steps(self._persistent_step)
        for idx in reversed(range(self._n)):
            states = self._history[idx]
            if self._persistent_step < states[-1].step:
                states.pop()
                state = states[-1]
                if state.active:
                    self._batch.show_agent(0, idx)
                else:
                    self._batch.hide_agent(0, idx)
                self._batch.move_agent_to_cell(0, idx, state.x, state.y)
                self._batch.set_goal(0, idx, state.tx, state.ty)
        return True

    def get_history(self):
        """Each agent's states, one entry per change (pogema's compressed history)."""
        self._persistent("get_history")
        return self._history

    def get_full_history(self):
        """Each agent's state at every step from 0 to now."""
        self._persistent("get_full_history")
        return [self.agent_state_to_full_list(states, self._persistent_step) for states in self._history]

    @staticmethod
    def agent_state_to_full_list(agent_states, num_steps):
        """One agent's compressed states expanded to one per step, ``0..=num_steps``."""
        full, current = [], 0
        for step in range(num_steps + 1):
            if current + 1 < len(agent_states) and agent_states[current + 1].step == step:
                current += 1
            full.append(agent_states[current])
        return full

    @classmethod
    def decompress_history(cls, history):
        """Every agent's compressed states expanded to the last step any of them records."""
        last = max(states[-1].step for states in history)
        return [cls.agent_state_to_full_list(states, last) for states in history]

    def close(self):
        pass

