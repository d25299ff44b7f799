"""pogema 1.4.0's ``pogema.wrappers.persistence``: ``PersistentWrapper``, which records each agent's
states as the episode goes and can rewind it one step, and the ``AgentState`` it records.

rmapf's ``GridConfig(persistent=True)`` builds the same history into the env (``pogema_v0`` needs
no wrapper); this wrapper is for code that wraps an env by hand, as pogema's ``AnimationMonitor``
does (``PersistentWrapper(env, xy_offset=-obs_radius)``). As in pogema, the history records any
env, and ``step_back`` needs one made with ``persistent=True`` (the step counter may only be set
back there)."""
from gymnasium import Wrapper

from ..env import AgentState, PogemaEnv


def _find(env, name):
    """The first env of the wrapper chain from ``env`` down that defines ``name`` itself (the
    latest Gymnasium's wrappers no longer forward attributes)."""
    while env is not None:
        if name in vars(type(env)) or name in vars(env):
            return getattr(env, name)
        env = getattr(env, "env", None)
    raise AttributeError(f"no env under this wrapper has {name}")


class PersistentWrapper(Wrapper):
    """Records, per agent, its state (padded cell and goal shifted by ``xy_offset``, the step, and
    whether it is active) each time it changes; ``step_back`` rewinds the grid to the previous
    step's states, as pogema's wrapper does."""

    def __init__(self, env, xy_offset=None):
        super().__init__(env)
        self._step = None
        self._agent_states = None
        self._xy_offset = xy_offset

    def _started(self):
        """Raises a clear error before the first reset (there is no history yet)."""
        if self._step is None:
            raise RuntimeError("reset() must be called first: the history starts at a reset")

    def _states(self):
        """Every agent's state now (one read of the grid per field, not one per agent)."""
        grid = self.env.unwrapped.grid
        positions, finishes, active = grid.positions_xy, grid.finishes_xy, grid.is_active
        d = self._xy_offset or 0
        return [AgentState(x + d, y + d, tx + d, ty + d, self._step, active[i])
                for i, ((x, y), (tx, ty)) in enumerate(zip(positions, finishes))]

    def reset(self, **kwargs):
        """Resets the env and starts each agent's history with its state at step 0."""
        result = self.env.reset(**kwargs)
        self._step = 0
        self._agent_states = [[state] for state in self._states()]
        return result

    def step(self, action):
        """Steps the env and records the agents whose state changed."""
        self._started()
        result = self.env.step(action)
        self._step += 1
        for states, state in zip(self._agent_states, self._states()):
            if state != states[-1]:
                states.append(state)
        return result

    def step_back(self):
        """Rewinds one step: the step counter (``ValueError`` unless the env is persistent),
        then, for each agent that changed in the last step, its activity, cell and goal, as
        pogema's wrapper does them; ``False`` at step 0. One deliberate difference: with an
        ``xy_offset`` the recorded cells are shifted back before they are set (pogema's wrapper
        sets the shifted cells, which moves the agents elsewhere)."""
        self._started()
        if self._step <= 0:
            return False
        self._step -= 1
        _find(self.env, "set_elapsed_steps")(self._step)
        grid = self.env.unwrapped.grid
        d = self._xy_offset or 0
        for idx in reversed(range(len(self._agent_states))):
            states = self._agent_states[idx]
            if self._step < states[-1].step:
                states.pop()
                state = states[-1]
                if state.active:
                    grid.show_agent(idx)
                else:
                    grid.hide_agent(idx)
                grid.move_agent_to_cell(idx, state.x - d, state.y - d)
                grid.finishes_xy[idx] = state.tx - d, state.ty - d
        return True

    # pogema's static helpers of the history, the env's own (persistent=True) ones.
    agent_state_to_full_list = staticmethod(PogemaEnv.agent_state_to_full_list)
    decompress_history = classmethod(PogemaEnv.decompress_history.__func__)

    def get_full_history(self):
        """Each agent's state at every step from 0 to now."""
        self._started()
        return [self.agent_state_to_full_list(states, self._step) for states in self._agent_states]

    def get_history(self):
        """Each agent's states, one entry per change."""
        self._started()
        return self._agent_states


__all__ = ["AgentState", "PersistentWrapper"]
