"""Numpy output buffers of a batch, allocated once and filled in place by the Rust core."""
import numpy as np


class Buffers:
    """All outputs of a batch, allocated once from the Rust core's list of them
    (``Batch.output_spec()``: name, dtype, shape, initial value) and filled in place by
    ``Batch.reset``/``Batch.step``. Attributes: ``actions [N]`` (as resolved), ``obs [N, C, R, R]``,
    ``xy``/``target_xy``/``global_xy``/``global_target_xy [N, 2]``, ``rewards``, ``terminated``,
    ``truncated``, ``active [N]`` and ``episode_done [E]``."""

    def __init__(self, batch):
        for name, dtype, shape, fill in batch.output_spec():
            setattr(self, name, np.full(shape, fill, dtype=dtype))


#: The boolean types a list of actions must not hold (numpy would read them as 0 and 1).
_BOOLS = frozenset((bool, np.bool_))


def as_actions(actions, n):
    """Validates actions: ``n`` integers (list or integer array) in ``0..5``, as int64."""
    if isinstance(actions, (str, bytes)):
        raise TypeError("actions must be a sequence of integers, not a string")
    if isinstance(actions, (list, tuple)) and not _BOOLS.isdisjoint(map(type, actions)):
        raise TypeError("actions must be integers 0..4, not booleans")
    arr = np.asarray(actions)
    if arr.dtype == object or arr.dtype.kind not in "iu":
        raise TypeError(f"actions must be integers 0..4, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"expected {n} actions (one per agent), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def as_action(action):
    """Validates one action: an integer (Python or numpy, not a bool) in ``0..5``, as ``int``."""
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
        if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
            return as_action(action.item())
        raise TypeError(f"an action must be an integer 0..4, not {type(action).__name__} {action!r}")
    if not 0 <= action < 5:
        raise ValueError(f"action {action} is out of range; actions are 0..4 (stay, up, down, left, right)")
    return int(action)
