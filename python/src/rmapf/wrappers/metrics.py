"""pogema 1.4.0's metric wrappers (``pogema.wrappers.metrics``) over any pogema-style env: each
reads the agents' goal flags (``was_on_goal``) or observations every step and, on the step the
episode ends (every agent terminated, or every agent truncated), adds its metric to
``infos[0]["metrics"]`` under pogema's name and with pogema's value.

``pogema_v0`` already reports these metrics (computed in Rust); the wrappers are for code that
stacks them itself, such as learn-to-follow's ``RuntimeMetricWrapper``. They read the base env
through ``unwrapped``, so they also work under Gymnasium 1.x's wrappers, which no longer forward
attributes.
"""
import time

import numpy as np

from ..integrations import _Forwarding


def _episode_over(terminated, truncated):
    return all(terminated) or all(truncated)


def _report(infos, values):
    infos[0].setdefault("metrics", {}).update(values)


class AbstractMetric(_Forwarding):
    """A metric computed from the goal flags: ``_compute_stats(step, is_on_goal, finished)``
    sees the step index within the episode (0 first), each agent's ``was_on_goal`` after the
    step and whether the episode ended, and returns the values to report (or nothing)."""

    def __init__(self, env):
        super().__init__(env)
        self._current_step = 0

    def _compute_stats(self, step, is_on_goal, finished):
        raise NotImplementedError

    def _num_agents(self):
        return self.unwrapped.get_num_agents()

    def step(self, action):
        obs, rewards, terminated, truncated, infos = self.env.step(action)
        finished = _episode_over(terminated, truncated)
        values = self._compute_stats(self._current_step, self.unwrapped.was_on_goal, finished)
        self._current_step = 0 if finished else self._current_step + 1
        if values:
            _report(infos, values)
        return obs, rewards, terminated, truncated, infos


class LifeLongAverageThroughputMetric(AbstractMetric):
    """``avg_throughput``: goals reached (agent-steps on a goal) per step of the episode's time
    limit (``grid_config.max_episode_steps``)."""

    def __init__(self, env):
        super().__init__(env)
        self._reached = 0

    def _compute_stats(self, step, is_on_goal, finished):
        self._reached += sum(1 for on_goal in is_on_goal if on_goal)
        if finished:
            reached, self._reached = self._reached, 0
            return {"avg_throughput": reached / self.unwrapped.grid_config.max_episode_steps}
        return None


class NonDisappearCSRMetric(AbstractMetric):
    """``CSR`` for agents that stay on the map: 1.0 when every agent stands on its goal at the
    end."""

    def _compute_stats(self, step, is_on_goal, finished):
        return {"CSR": float(all(is_on_goal))} if finished else None


class NonDisappearISRMetric(AbstractMetric):
    """``ISR`` for agents that stay on the map: the share of agents on their goal at the end."""

    def _compute_stats(self, step, is_on_goal, finished):
        return {"ISR": float(sum(is_on_goal)) / self._num_agents()} if finished else None


class NonDisappearEpLengthMetric(AbstractMetric):
    """``ep_length`` for agents that stay on the map: the episode's steps."""

    def _compute_stats(self, step, is_on_goal, finished):
        return {"ep_length": step + 1} if finished else None


class _FirstArrival(AbstractMetric):
    """Per agent, the step it first stood on its goal (or the last step, if it never did)."""

    def __init__(self, env):
        super().__init__(env)
        self._arrival = [None] * self._num_agents()

    def _record(self, step, is_on_goal, finished):
        for i, on_goal in enumerate(is_on_goal):
            if self._arrival[i] is None and (on_goal or finished):
                self._arrival[i] = step

    def _take(self):
        arrival, self._arrival = self._arrival, [None] * self._num_agents()
        return arrival


class EpLengthMetric(_FirstArrival):
    """``ep_length``: the mean over agents of the step each first reached its goal, plus one."""

    def _compute_stats(self, step, is_on_goal, finished):
        self._record(step, is_on_goal, finished)
        if finished:
            return {"ep_length": sum(self._take()) / self._num_agents() + 1}
        return None


class SumOfCostsAndMakespanMetric(_FirstArrival):
    """``SoC`` and ``makespan``: per agent the step from which it stayed on its goal (an agent
    that leaves its goal is counted again from its next arrival); SoC is their sum plus the agent
    count, the makespan their maximum plus one."""

    def _compute_stats(self, step, is_on_goal, finished):
        self._record(step, is_on_goal, finished)
        for i, on_goal in enumerate(is_on_goal):
            if not on_goal and not finished:
                self._arrival[i] = None
        if finished:
            arrival = self._take()
            return {"SoC": sum(arrival) + self._num_agents(), "makespan": max(arrival) + 1}
        return None


class _GoalCount(AbstractMetric):
    """Agent-steps on a goal, summed over the episode."""

    def __init__(self, env):
        super().__init__(env)
        self._solved = 0

    def _count(self, is_on_goal, finished):
        self._solved += sum(is_on_goal)
        if not finished:
            return None
        solved, self._solved = self._solved, 0
        return solved


class CSRMetric(_GoalCount):
    """``CSR`` for agents that leave the map on their goal: 1.0 when every agent reached it."""

    def _compute_stats(self, step, is_on_goal, finished):
        solved = self._count(is_on_goal, finished)
        return None if solved is None else {"CSR": float(solved == self._num_agents())}


class ISRMetric(_GoalCount):
    """``ISR`` for agents that leave the map on their goal: the share that reached it."""

    def _compute_stats(self, step, is_on_goal, finished):
        solved = self._count(is_on_goal, finished)
        return None if solved is None else {"ISR": solved / self._num_agents()}


class AgentsDensityWrapper(_Forwarding):
    """``avg_agents_density``: per observation (the first one after ``reset`` included), the agents
    in view ÷ the cells in view that are not obstacles, averaged over agents, then over steps."""

    def __init__(self, env):
        super().__init__(env)
        self._densities = None

    def _observe(self, observations):
        per_agent = [
            np.count_nonzero(o["agents"]) / (np.size(o["obstacles"]) - np.count_nonzero(o["obstacles"]))
            for o in observations
        ]
        self._densities.append(np.mean(per_agent))

    def reset(self, **kwargs):
        self._densities = []
        observations, info = self.env.reset(**kwargs)
        self._observe(observations)
        return observations, info

    def step(self, actions):
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        self._observe(observations)
        if _episode_over(terminated, truncated):
            _report(infos, {"avg_agents_density": float(np.mean(self._densities))})
        return observations, rewards, terminated, truncated, infos


class RuntimeMetricWrapper(_Forwarding):
    """``runtime``: the seconds from ``reset`` to the end of the episode that were not spent in
    the wrapped env's ``step`` (the policy's share of the wall clock)."""

    def __init__(self, env):
        super().__init__(env)
        self._started = None
        self._in_env = None

    def reset(self, **kwargs):
        result = self.env.reset(**kwargs)
        self._started = time.monotonic()
        self._in_env = 0.0
        return result

    def step(self, actions):
        before = time.monotonic()
        observations, rewards, terminated, truncated, infos = self.env.step(actions)
        self._in_env += time.monotonic() - before
        if _episode_over(terminated, truncated):
            _report(infos, {"runtime": time.monotonic() - self._started - self._in_env})
        return observations, rewards, terminated, truncated, infos


__all__ = [
    "AbstractMetric",
    "LifeLongAverageThroughputMetric",
    "NonDisappearCSRMetric",
    "NonDisappearISRMetric",
    "NonDisappearEpLengthMetric",
    "EpLengthMetric",
    "CSRMetric",
    "ISRMetric",
    "SumOfCostsAndMakespanMetric",
    "AgentsDensityWrapper",
    "RuntimeMetricWrapper",
]
