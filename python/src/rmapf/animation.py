"""``AnimationMonitor``: records an episode and saves it as an animated SVG (pogema's wrapper)."""
from . import _rmapf


class AnimationMonitor:
    """Wraps a :class:`rmapf.env.PogemaEnv`; every ``reset``/``step`` records positions, goals and
    activity, and ``save_animation(path)`` writes the current episode as an animated SVG."""

    def __init__(self, env):
        self.env = env
        self._frames = []

    def __getattr__(self, name):
        return getattr(self.env, name)

    def _record(self):
        s = self.env.unwrapped._state()
        self._frames.append((s["positions"], s["goals"], s["active"]))

    def reset(self, *args, **kwargs):
        out = self.env.reset(*args, **kwargs)
        self._frames = []
        self._record()
        return out

    def step(self, actions):
        out = self.env.step(actions)
        self._record()
        return out

    def save_animation(self, path, seconds_per_step=0.25):
        """Writes the recorded episode to ``path`` (SVG)."""
        if not self._frames:
            raise RuntimeError("nothing recorded yet: call reset() first")
        s = self.env.unwrapped._state()
        h, w = self.env.grid_config.height, self.env.grid_config.width
        rows = ["".join("#" if s["obstacles"][x * w + y] else "." for y in range(w)) for x in range(h)]
        positions, goals, active = (list(t) for t in zip(*self._frames))
        svg = _rmapf.episode_svg(rows, positions, goals, active, seconds_per_step)
        with open(path, "w") as f:
            f.write(svg)
        return path
