"""Numpy output buffers of a batch, allocated once and filled in place by the Rust core."""
import numpy as np


class Buffers:
    """All outputs of a batch of ``n`` agents in ``e`` episodes (shapes in the attribute names)."""

    def __init__(self, n, e, obs_shape):
        c, r, _ = obs_shape
        self.obs = np.zeros((n, c, r, r), dtype=np.uint8)  # [N, C, R, R]
        self.xy = np.zeros((n, 2), dtype=np.int32)  # [N, 2] start-relative position
        self.target_xy = np.zeros((n, 2), dtype=np.int32)  # [N, 2] start-relative goal
        self.global_xy = np.zeros((n, 2), dtype=np.int32)  # [N, 2] padded position
        self.global_target_xy = np.zeros((n, 2), dtype=np.int32)  # [N, 2] padded goal
        self.rewards = np.zeros(n, dtype=np.float32)  # [N]
        self.terminated = np.zeros(n, dtype=bool)  # [N]
        self.truncated = np.zeros(n, dtype=bool)  # [N]
        self.active = np.ones(n, dtype=bool)  # [N]
        self.actions = np.zeros(n, dtype=np.uint8)  # [N] resolved actions
        self.episode_done = np.zeros(e, dtype=bool)  # [E]

    def outputs(self):
        """The arrays in the order ``Batch.reset``/``Batch.step`` take them."""
        return (self.obs, self.xy, self.target_xy, self.global_xy, self.global_target_xy, self.rewards,
                self.terminated, self.truncated, self.active, self.actions, self.episode_done)


def as_actions(actions, n):
    """Validates actions: ``n`` integers (list or integer array) in ``0..5``, as int64."""
    if isinstance(actions, (str, bytes)):
        raise TypeError("actions must be a sequence of integers, not a string")
    if isinstance(actions, (list, tuple)) and any(isinstance(a, (bool, np.bool_)) for a in actions):
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
