"""``AnimationMonitor`` and ``AnimationConfig``: records episodes and saves them as animated SVGs
(pogema's wrapper and its options)."""
import dataclasses
import os
import typing

from . import _rmapf


@dataclasses.dataclass
class AnimationConfig:
    """pogema's ``AnimationConfig``.

    - ``directory``: where episodes are saved automatically;
    - ``save_every_idx_episode``: save automatically when an episode ends, on pogema's schedule
      (``1``: every episode; ``k > 1``: every episode but each k-th; ``None``/``0``: never);
    - ``static``: one frame instead of an animation (``frame_idx``, default the last);
    - ``show_agents``: draw agents and goals (``False``: the map alone);
    - ``egocentric_idx``: in ``on_target='finish'`` episodes, cut the animation where that agent
      reached its goal;
    - ``uid`` and ``show_grid_lines`` are accepted and stored (rmapf's SVG has no grid lines).
    """

    directory: str = "renders/"
    static: bool = False
    show_agents: bool = True
    egocentric_idx: typing.Optional[int] = None
    frame_idx: typing.Optional[int] = None
    uid: typing.Optional[str] = None
    save_every_idx_episode: typing.Optional[int] = 1
    show_grid_lines: bool = True


class AnimationMonitor:
    """Wraps a :class:`rmapf.env.PogemaEnv`; every ``reset``/``step`` records positions, goals and
    activity, ``save_animation(name)`` writes the current episode as an SVG, and an episode that
    ends is saved into ``animation_config.directory`` as pogema does."""

    def __init__(self, env, animation_config=None):
        if animation_config is None:
            animation_config = AnimationConfig()
        if not isinstance(animation_config, AnimationConfig):
            raise TypeError("animation_config must be an rmapf.AnimationConfig")
        self.env = env
        self.animation_config = animation_config
        self._frames = []
        self._episode_idx = 0

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return getattr(self.env, name)
        except AttributeError:
            # Gymnasium 1.x wrappers (what gymnasium.make returns) no longer forward attributes.
            get_wrapper_attr = getattr(self.env, "get_wrapper_attr", None)
            if get_wrapper_attr is None:
                raise
            return get_wrapper_attr(name)

    def _record(self):
        s = self.env.unwrapped._state()
        self._frames.append((s["positions"], s["goals"], s["active"]))

    def reset(self, *args, **kwargs):
        out = self.env.reset(*args, **kwargs)
        self._episode_idx += 1
        self._frames = []
        self._record()
        return out

    def step(self, actions):
        out = self.env.step(actions)
        self._record()
        terminated, truncated = out[2], out[3]
        ended = all(terminated) or all(truncated) if isinstance(terminated, (list, tuple)) else terminated or truncated
        tau = self.animation_config.save_every_idx_episode
        # pogema's schedule, kept as it is: with tau > 1 it skips every tau-th episode.
        if ended and tau and ((self._episode_idx + 1) % tau or tau == 1):
            os.makedirs(self.animation_config.directory, exist_ok=True)
            name = self.pick_name(self.env.unwrapped.grid_config, self._episode_idx)
            self.save_animation(os.path.join(self.animation_config.directory, name))
        return out

    @staticmethod
    def pick_name(grid_config, episode_idx=None, zfill_ep=5):
        """pogema's file name: ``pogema-ep00001-<map_name>-seed<seed>.svg``."""
        name = "pogema"
        if episode_idx is not None:
            name += f"-ep{str(episode_idx).zfill(zfill_ep)}"
        if grid_config:
            if grid_config.map_name:
                name += f"-{grid_config.map_name}"
            if grid_config.seed is not None:
                name += f"-seed{grid_config.seed}"
        else:
            name += "-render"
        return name + ".svg"

    def save_animation(self, name="render.svg", animation_config=None, seconds_per_step=0.25):
        """Writes the recorded episode to ``name`` (SVG) with ``animation_config``'s options
        (pogema's default config when ``None``); returns ``name``."""
        config = animation_config if animation_config is not None else AnimationConfig()
        if not self._frames:
            raise RuntimeError("nothing recorded yet: call reset() first")
        gc = self.env.unwrapped.grid_config
        rows = self.env.unwrapped.map_rows()
        frames = list(self._frames)
        if config.egocentric_idx is not None and gc.on_target == "finish":
            ego = config.egocentric_idx
            if not 0 <= ego < len(frames[0][2]):
                raise ValueError(f"egocentric_idx {ego} is not an agent index (0..{len(frames[0][2]) - 1})")
            # Up to and including the step where that agent reached its goal and left.
            done = next((t for t, (_, _, active) in enumerate(frames) if not active[ego]), len(frames) - 1)
            frames = frames[: done + 1]
        if config.static:
            idx = len(frames) - 1 if config.frame_idx is None else config.frame_idx
            if not -len(frames) <= idx < len(frames):
                raise ValueError(f"frame_idx {idx} is outside the {len(frames)} recorded frames")
            frames = [frames[idx]]
        if not config.show_agents:
            frames = [([], [], []) for _ in frames]
        positions, goals, active = (list(t) for t in zip(*frames))
        svg = _rmapf.episode_svg(rows, positions, goals, active, seconds_per_step)
        with open(name, "w") as f:
            f.write(svg)
        return name
