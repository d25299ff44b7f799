"""``GridConfig``: pogema 1.4.0's fields and defaults, defined and validated by rmapf's Rust core."""
import copy
import inspect
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


def _numpy_as_plain(value):
    """``json.dumps``'s fallback for what it cannot write itself: numpy arrays and scalars."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(values):
    """``values`` (field -> value) as the Rust core's JSON, ``None`` fields left out (the same
    text as for ``_plain`` values: tuples are written as lists; numpy values go through the
    fallback, so a map of plain rows is written without a Python call per cell)."""
    payload = {k: v for k, v in values.items() if v is not None}
    try:
        return json.dumps(payload, default=_numpy_as_plain)
    except (TypeError, ValueError) as e:
        raise TypeError(f"GridConfig values must be numbers, strings, booleans or lists: {e}") from None


def fields_of(config):
    """Every field rmapf knows, read from ``config`` (an ``rmapf.GridConfig``, or a pogema one
    assigned to ``env.grid_config`` as pogema-toolbox does; fields it lacks take their defaults)."""
    return {name: getattr(config, name, default) for name, default in DEFAULTS.items()}


class GridConfig:
    """pogema's ``GridConfig``: same fields, defaults and validation rules.

    Invalid values raise ``ValueError`` naming the field; unknown fields raise ``TypeError``
    (pogema silently ignores them, which hides typos). After construction the fields hold the
    normalised values, as in pogema: ``width``/``height``/``size``/``density`` from the map, the
    map itself as rows of 0/1 with its letters moved into ``agents_xy``/``targets_xy``, and
    ``num_agents`` from ``agents_xy`` or the letters.

    As in pogema the fields stay assignable (``gc.num_agents = 16``): an env reads them when it is
    built and again at every ``reset()``, and checks them then (a bad value raises ``ValueError``
    there, naming the field).

    Subclasses work as pogema's pydantic model does for tools that extend it (pogema-toolbox's
    ``Environment``): a subclass's annotated class attributes are fields of its own, kept and
    listed by ``dict()``; a subclass ignores keywords it does not declare, and any config ignores
    the fields some subclass declares (so ``GridConfig(**environment.dict())`` works). Plain
    ``GridConfig`` keeps refusing every other unknown keyword.
    """

    #: Fields a subclass declares pydantic-style (``use_maps: bool = True``), with their defaults:
    #: pogema-toolbox's ``Environment`` subclasses pogema's ``GridConfig`` this way.
    _declared = {}
    #: Every field any subclass declares: other configs ignore them, as pydantic ignores undeclared
    #: fields (``GridConfig(**environment.dict())``, as pogema-toolbox builds its per-map configs).
    _subclass_fields = set()

    def __init_subclass__(cls, **kwargs):
        """A subclass keeps the fields it declares (annotated class attributes, their values the
        defaults) beside pogema's; like a pydantic model, it ignores keywords it does not declare."""
        super().__init_subclass__(**kwargs)
        declared = dict(cls._declared)
        for name in cls.__dict__.get("__annotations__", {}):
            if name not in DEFAULTS and name not in CONSTANTS and not name.startswith("_"):
                declared[name] = cls.__dict__.get(name)
        cls._declared = declared
        GridConfig._subclass_fields.update(declared)

    def __init__(self, **kwargs):
        declared = type(self)._declared
        known = set(DEFAULTS) | set(CONSTANTS) | set(declared)
        unknown = sorted(set(kwargs) - known - GridConfig._subclass_fields)
        if unknown and type(self) is GridConfig:
            raise TypeError(f"GridConfig got unknown field(s) {unknown}; known fields: {sorted(DEFAULTS)}")
        for name, value in CONSTANTS.items():
            if name in kwargs and _plain(kwargs[name]) != value:
                raise ValueError(f"{name} is fixed to {value!r} in rmapf")
        values = dict(DEFAULTS)
        values.update({k: v for k, v in kwargs.items() if k in DEFAULTS})
        resolved = json.loads(_rmapf.resolve_config(to_json(values)))
        for name, default in DEFAULTS.items():
            object.__setattr__(self, name, resolved.get(name, default))
        for name, value in CONSTANTS.items():
            object.__setattr__(self, name, value)
        for name, default in declared.items():
            object.__setattr__(self, name, kwargs[name] if name in kwargs else copy.deepcopy(default))

    def __setattr__(self, name, value):
        if name in CONSTANTS:
            if _plain(value) != CONSTANTS[name]:
                raise ValueError(f"{name} is fixed to {CONSTANTS[name]!r} in rmapf")
        elif name not in DEFAULTS and name not in type(self)._declared:
            # pydantic 1 (pogema's GridConfig) raises ValueError here too.
            raise ValueError(f'"GridConfig" object has no field "{name}"; known fields: {sorted(DEFAULTS)}')
        object.__setattr__(self, name, value)

    def to_json(self):
        """The fields as they are now, as JSON for the Rust core (validated when an env reads it)."""
        return to_json(fields_of(self))

    def dict(self):
        """The fields as a dict (pydantic's ``.dict()``): pogema's constants first, as pogema's
        ``dict()`` lists them, then every field (rmapf's own included)."""
        declared = {name: getattr(self, name) for name in type(self)._declared}
        return {**copy.deepcopy(CONSTANTS), **fields_of(self), **declared}

    def copy(self, *, update=None, deep=False):
        """pydantic's ``copy``: a new config with the fields as they are now and ``update``
        applied (validated, as ``update_config`` validates; ``deep`` is accepted and always
        holds: the copy shares no list with this config)."""
        fresh = copy.deepcopy(self)
        if update:
            if not isinstance(update, dict):
                raise TypeError(f"update must be a dict of fields, not {type(update).__name__}")
            fresh.update_config(**update)
        return fresh

    def json(self, **dumps_kwargs):
        """pydantic's ``json``: the fields as a JSON string (``json.dumps`` options accepted)."""
        return json.dumps(self.dict(), **dumps_kwargs)

    @staticmethod
    def str_map_to_list(str_map, free, obstacle):
        """pogema's ``str_map_to_list``, by the parser rmapf's environments use:
        ``(obstacles, agents_xy, targets_xy, possible_agents_xy, possible_targets_xy)``, the
        obstacles as rows of ``free``/``obstacle``, the letters' cells as ``[x, y]`` lists, the
        ``@``/``$``/``!`` cells as tuples (``None`` when the map has none of them). A symbol
        pogema does not know is a ``KeyError`` (also a ``ValueError``), as in pogema; rows of
        different lengths and letters without their pair are ``ValueError``s."""
        if not isinstance(str_map, str):
            raise TypeError(f"str_map must be a str, not {type(str_map).__name__}")
        parsed = json.loads(_rmapf.resolve_config(to_json({**DEFAULTS, "map": str_map})))

        def cells(key):
            return None if parsed[key] is None else [tuple(c) for c in parsed[key]]

        return ([[obstacle if v else free for v in row] for row in parsed["map"]],
                parsed["agents_xy"] or [], parsed["targets_xy"] or [],
                cells("possible_agents_xy"), cells("possible_targets_xy"))

    @staticmethod
    def check_positions(v, width, height):
        """pogema's check of ``[x, y]`` positions on a ``height × width`` map: ``ValueError`` for a
        malformed position, ``IndexError`` for one outside the map."""
        for position in v:
            if not isinstance(position, (list, tuple)) or len(position) != 2:
                raise ValueError("Position must be a list/tuple of length 2")
            x, y = position
            if not isinstance(x, int) or not isinstance(y, int):
                raise ValueError("Position coordinates must be integers")
            if not (0 <= x < height and 0 <= y < width):
                raise IndexError(f"Position is out of bounds! {position} is not in [0, {height}] x [0, {width}]")

    def update_config(self, **kwargs):
        """pogema 1.4's ``update_config``: re-validate with some fields changed."""
        current = self.dict()
        if "size" in kwargs:
            current.pop("width", None)
            current.pop("height", None)
        elif "width" in kwargs or "height" in kwargs:
            current.pop("size", None)
        current.update(kwargs)
        fresh = type(self)(**current)
        for name in [*DEFAULTS, *type(self)._declared]:
            object.__setattr__(self, name, getattr(fresh, name))

    def __eq__(self, other):
        # pydantic 1's model equality, as pogema's GridConfig has it: equal when the field dicts
        # are (a subclass's own fields included), and a dict compares as a config's fields.
        if isinstance(other, GridConfig):
            other = other.dict()
        elif not isinstance(other, dict):
            return NotImplemented
        return _comparable(self.dict()) == _comparable(other)

    __hash__ = None  # mutable, like pogema's pydantic model

    def __repr__(self):
        """The class name and the fields that differ from their defaults (a subclass's own
        fields included)."""
        defaults = {**DEFAULTS, **type(self)._declared}
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in defaults if getattr(self, k) != defaults[k])
        return f"{type(self).__name__}({fields})"


def _comparable(fields):
    """A field dict with tuples and numpy values as plain lists and numbers (a config holds its
    positions as lists, a caller's dict may hold tuples)."""
    return {k: _plain(v) for k, v in fields.items()}


# `inspect.signature(GridConfig)` and `help()` list the fields, keyword-only, as pogema's do.
GridConfig.__signature__ = inspect.Signature(
    [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
     for name, default in {**CONSTANTS, **DEFAULTS}.items()])


def as_grid_config(value):
    """``value`` as an ``rmapf.GridConfig``: itself, a dict of fields, ``None`` (the defaults), or
    any config object with pogema's fields and a ``dict()`` method (pogema's ``GridConfig``, or
    pogema-toolbox's ``Environment``, which subclasses it; fields rmapf does not know are left
    out). Anything else raises ``TypeError``."""
    if isinstance(value, GridConfig):
        return value
    if value is None:
        return GridConfig()
    if isinstance(value, dict):
        return GridConfig(**value)
    fields = getattr(value, "dict", None)
    if callable(fields) and hasattr(value, "num_agents"):
        return GridConfig(**{k: v for k, v in fields().items() if k in DEFAULTS})
    raise TypeError(f"grid_config must be an rmapf.GridConfig, a dict of its fields or a pogema GridConfig, "
                    f"not {type(value).__name__}")
