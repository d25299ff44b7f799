"""The raw multi-agent environment with pogema 1.4.0's signatures (``integration=None``)."""
import numpy as np

from . import _rmapf
from ._buffers import Buffers, as_actions
from .grid_config import as_grid_config, fields_of, to_json
from .grid_registry import get_grid, in_registry


#: The metrics pogema 1.4.0 reports (per on-target mode, a subset of these).
POGEMA_METRICS = ("ISR", "CSR", "ep_length", "SoC", "makespan", "avg_throughput")


try:  # pogema's envs are gymnasium envs; gymnasium stays optional for the raw env
    from gymnasium import Env as _EnvBase
except ImportError:  # pragma: no cover - exercised only without gymnasium
    _EnvBase = object


def env_json(grid_config):
    """The JSON the simulator is built from: ``grid_config``'s fields as they are now, with the
    obstacles of a registered ``map_name`` in place of its own (pogema replaces them, and only
    them)."""
    values = fields_of(grid_config)
    if in_registry(values["map_name"]):
        values["map"] = get_grid(values["map_name"]).get_obstacles().tolist()
    return to_json(values)


class PogemaEnv(_EnvBase):
    """pogema's ``Pogema``/``PogemaLifeLong``/``PogemaCoopFinish`` with its wrapper stack
    (time limit and metrics), backed by rmapf's Rust simulator.

    ``reset() -> (obs_list, infos)``; ``step(actions) -> (obs, rewards, terminated, truncated,
    infos)`` with one entry per agent; ``infos[0]['metrics']`` on the step the episode ends.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, grid_config):
        self.grid_config = as_grid_config(grid_config)
        self._built = None  # the config JSON the simulator was built from (at the first reset)
        self._n = None
        self._instance_seeds = None  # after reset(seed=...) without a config seed
        self._ready = False
        self._global_obstacles = None
        self._set_spaces()

    def _build(self):
        """(Re)builds the simulator when ``grid_config``'s fields changed since the last build.
        As in pogema, the config is read at every reset (it is mutable, and pogema-toolbox swaps
        it between episodes), and a task that does not fit its map fails there, not before."""
        text = env_json(self.grid_config)
        if text == self._built:
            return
        self._batch = _rmapf.Batch([text], 1, False)
        self._built = text
        self._ready = False
        self._n = self._batch.agents_per_episode[0]
        self._buf = Buffers(self._batch)
        self._set_spaces()

    def _set_spaces(self):
        gc = self.grid_config
        try:
            import gymnasium
        except ImportError:  # gymnasium is optional for the raw env
            self.action_space = self.observation_space = None
            return
        k = 2 * gc.obs_radius + 1
        self.action_space = gymnasium.spaces.Discrete(5)
        if gc.observation_type == "default":
            self.observation_space = gymnasium.spaces.Box(-1.0, 1.0, shape=(3, k, k))
        else:
            self.observation_space = gymnasium.spaces.Dict(
                obstacles=gymnasium.spaces.Box(0.0, 1.0, shape=(k, k)),
                agents=gymnasium.spaces.Box(0.0, 1.0, shape=(k, k)),
                xy=gymnasium.spaces.Box(low=-1024, high=1024, shape=(2,), dtype=int),
                target_xy=gymnasium.spaces.Box(low=-1024, high=1024, shape=(2,), dtype=int),
            )

    @property
    def unwrapped(self):
        return self

    def get_num_agents(self):
        """Number of agents (the config's until the first reset builds the episode)."""
        return self.grid_config.num_agents if self._n is None else self._n

    def _obs(self):
        # One float32 copy per step for all agents; each agent's entries are views into it (fresh
        # arrays every step, as pogema's are).
        b, kind = self._buf, self.grid_config.observation_type
        obs = b.obs.astype(np.float32)
        if kind == "default":
            return list(obs)
        xy, target_xy = b.xy.tolist(), b.target_xy.tolist()
        out = [
            {"obstacles": obs[i, 0], "agents": obs[i, 1], "xy": tuple(xy[i]), "target_xy": tuple(target_xy[i])}
            for i in range(self._n)
        ]
        if kind == "MAPF":
            global_xy, global_target_xy = b.global_xy.tolist(), b.global_target_xy.tolist()
            for i, o in enumerate(out):
                o["global_obstacles"] = self._global_obstacles
                o["global_xy"] = tuple(global_xy[i])
                o["global_target_xy"] = tuple(global_target_xy[i])
        return out

    def _infos(self):
        return [{"is_active": bool(a)} for a in self._buf.active]

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
        if self.grid_config.observation_type == "MAPF":
            self._global_obstacles = self._batch.padded_obstacles(0).astype(np.float64)
        obs = self._obs()
        return (obs, self._infos()) if return_info else obs

    def step(self, actions):
        """One step; a list of actions is rewritten in place where ``soft`` reverts moves, as pogema does."""
        if not self._ready:
            raise RuntimeError("reset() must be called before step()")
        arr = as_actions(actions, self._n)
        finished = self._batch.step(arr, self._buf)
        b = self._buf
        if isinstance(actions, list):
            actions[:] = [int(a) for a in b.actions]
        infos = self._infos()
        if finished:
            # pogema's metric names only (drop-in); VecEnv also reports rmapf's extras.
            infos[0]["metrics"] = {k: v for k, v in finished[0][1].items() if k in POGEMA_METRICS}
        return (self._obs(), [float(r) for r in b.rewards], [bool(t) for t in b.terminated],
                [bool(t) for t in b.truncated], infos)

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

    def render(self, mode="ansi"):
        """A text picture: ``#`` obstacles, agent digits/letters, goals in ``|x|``."""
        s = self._state()
        chars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        agents = {tuple(p): i for i, p in enumerate(s["positions"]) if s["active"][i]}
        goals = {tuple(g): i for i, g in enumerate(s["goals"]) if s["active"][i]}
        lines = []
        for x, line in enumerate(self.map_rows()):
            row = []
            for y, cell in enumerate(line):
                if cell == "#":
                    row.append(" # ")
                elif (x, y) in agents:
                    row.append(" " + chars[agents[(x, y)] % len(chars)] + " ")
                elif (x, y) in goals:
                    row.append("|" + chars[goals[(x, y)] % len(chars)] + "|")
                else:
                    row.append(" . ")
            lines.append("".join(row))
        text = "\n".join(lines)
        if mode == "human":
            print(text)
            return None
        return text

    def sample_actions(self):
        """Uniform random actions (numpy's default generator seeded from the config seed)."""
        if not hasattr(self, "_sampler"):
            self._sampler = np.random.default_rng(self.grid_config.seed)
        return self._sampler.integers(5, size=self.get_num_agents())

    def step_back(self):
        """pogema's ``persistent=True`` rewind. Not provided: rmapf raises instead of returning a
        state that differs from pogema's (its episodes keep no per-step history)."""
        raise NotImplementedError(
            "step_back (pogema's persistent=True history) is not supported by rmapf; "
            "persistent=True only turns the metrics off, as in pogema"
        )

    def close(self):
        pass

