"""``GridConfig``: pogema 1.4.0's fields and defaults, defined and validated by rmapf's Rust core."""
import json

from . import _rmapf

#: Every field with its default: pogema 1.4.0's ``GridConfig`` fields and defaults, plus rmapf's
#: ``bug_compat``, ``reward`` and ``path_planner``. Read from the Rust core (``EnvConfig``), the one
#: source of the defaults and of their validation.
DEFAULTS = json.loads(_rmapf.config_defaults())

#: pogema's constants (read-only here).
CONSTANTS = {"MOVES": [[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], "FREE": 0, "OBSTACLE": 1}


def _plain(value):
    """Tuples, numpy arrays and numpy scalars as plain JSON-able Python values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class GridConfig:
    """pogema's ``GridConfig``: same fields, defaults and validation rules.

    Invalid values raise ``ValueError`` naming the field; unknown fields raise ``TypeError``
    (pogema silently ignores them, which hides typos). After construction the fields hold the
    normalised values, as in pogema: ``width``/``height``/``size``/``density`` from the map,
    ``num_agents`` from ``agents_xy`` or map letters.
    """

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(DEFAULTS) - set(CONSTANTS))
        if unknown:
            raise TypeError(f"GridConfig got unknown field(s) {unknown}; known fields: {sorted(DEFAULTS)}")
        for name, value in CONSTANTS.items():
            if name in kwargs and _plain(kwargs[name]) != value:
                raise ValueError(f"{name} is fixed to {value!r} in rmapf")
        values = dict(DEFAULTS)
        values.update({k: v for k, v in kwargs.items() if k in DEFAULTS})
        payload = {k: _plain(v) for k, v in values.items() if v is not None}
        try:
            text = json.dumps(payload)
        except (TypeError, ValueError) as e:
            raise TypeError(f"GridConfig values must be numbers, strings, booleans or lists: {e}") from None
        # Keep the config as given: resolving is not idempotent (letters set agents_xy).
        self._json = text
        resolved = json.loads(_rmapf.resolve_config(text))
        for name, default in DEFAULTS.items():
            setattr(self, name, resolved.get(name, default))
        for name, value in CONSTANTS.items():
            setattr(self, name, value)

    def to_json(self):
        """The config as given (validated), as JSON for the Rust core."""
        return self._json

    def dict(self):
        """The fields as a dict (pydantic's ``.dict()``)."""
        return {name: getattr(self, name) for name in DEFAULTS}

    def update_config(self, **kwargs):
        """pogema 1.4's ``update_config``: re-validate with some fields changed."""
        current = json.loads(self._json)  # the fields as given, not as derived
        if "size" in kwargs:
            current.pop("width", None)
            current.pop("height", None)
        elif "width" in kwargs or "height" in kwargs:
            current.pop("size", None)
        current.update(kwargs)
        fresh = GridConfig(**current)
        self.__dict__.update(fresh.__dict__)

    def __repr__(self):
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in DEFAULTS if getattr(self, k) != DEFAULTS[k])
        return f"GridConfig({fields})"
