"""Exceptions that keep both contracts: rmapf's (a bad value is a ``ValueError`` with a sentence)
and pogema's (which raises ``KeyError``/``IndexError`` in some places, and code catches those)."""


class ConfigKeyError(ValueError, KeyError):
    """A bad name or combination where pogema raises ``KeyError`` (an unknown integration,
    ``auto_reset`` with an integration that cannot reset itself). Its text is the plain message,
    not ``KeyError``'s quoted repr."""

    __str__ = ValueError.__str__


class PositionIndexError(ValueError, IndexError):
    """A position outside the map, or an agent that jumped, where pogema raises ``IndexError``."""

    __str__ = ValueError.__str__


class TaskError(ValueError, OverflowError, IndexError):
    """The map cannot host the task (too few free cells or positions, mismatched agents_xy and
    targets_xy), where pogema raises ``OverflowError`` or ``IndexError``."""

    __str__ = ValueError.__str__


class GridKeyError(ValueError, KeyError):
    """A persistent rewind (``step_back``) that pogema refuses with ``KeyError``: an agent whose
    cell is already free, or one shown on a cell another agent holds."""

    __str__ = ValueError.__str__


class NotPersistentError(ValueError, AttributeError):
    """A persistent-only method (``step_back``, ``get_history``) on an environment built without
    ``persistent=True``, where pogema has no such attribute (``AttributeError``)."""

    __str__ = ValueError.__str__


class ElapsedStepsError(ValueError, AssertionError):
    """A negative step count for ``MultiTimeLimit.set_elapsed_steps``, which pogema refuses with a
    failed ``assert``."""

    __str__ = ValueError.__str__


def invalid_field(message, field):
    """The exception for a bad ``GridConfig`` field: pydantic's ``ValidationError`` (itself a
    ``ValueError``, with rmapf's sentence as the field's error) where pydantic is installed, as
    pogema's pydantic model raises it, so code that catches ``pydantic.ValidationError`` keeps
    working; a plain ``ValueError`` otherwise. Works with pydantic 1 (pogema 1.4.0's) and 2."""
    try:
        import pydantic
    except ImportError:
        return ValueError(message)
    loc = tuple(str(field).split("."))
    if pydantic.VERSION.startswith("1."):
        from pydantic.error_wrappers import ErrorWrapper

        return pydantic.ValidationError([ErrorWrapper(ValueError(message), loc=loc)], _pydantic_model())
    return pydantic.ValidationError.from_exception_data(
        "GridConfig", [{"type": "value_error", "loc": loc, "input": None, "ctx": {"error": message}}])


def _pydantic_model():
    """An empty pydantic model named ``GridConfig`` (what pydantic 1's errors name), made once."""
    global _MODEL
    if _MODEL is None:
        import pydantic

        _MODEL = pydantic.create_model("GridConfig")
    return _MODEL


_MODEL = None
