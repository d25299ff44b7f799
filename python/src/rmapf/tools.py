"""The trainer and the evaluator from Python: ``rmapf.train`` runs ``train-srmt``'s code and
``rmapf.evaluate`` runs ``evaluate run``'s, in this process, with the GIL released while they work.
The run folders and result files are those of the binaries."""
import csv
import io
import json
import math
import numbers
import os
from pathlib import Path

from . import _rmapf

__all__ = ["train", "evaluate", "evaluation_request"]


def _check(name, value, kinds, what):
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
        raise TypeError(f"{name} must be {what}, not {type(value).__name__}")


def _whole(name, value, minimum=0):
    """``value`` as a Python int (numpy's integers too), or ``None``; a bool or a non-integer is a
    ``TypeError``, a value below ``minimum`` a ``ValueError``."""
    _check(name, value, (numbers.Integral,), "an int")
    if value is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return None if value is None else int(value)


def _ints(values):
    """Whether ``values`` is a sequence of integers (numpy's too), none of them a bool."""
    return not isinstance(values, (str, bytes)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values)


def _path(name, value):
    _check(name, value, (str, os.PathLike), "a path (str or os.PathLike)")
    return None if value is None else os.fspath(value)


def train(config=None, run_dir=None, *, resume=False, core=None, reward=None, seed=None,
          total_agent_steps=None, minutes=None, device=None, threads=None, maps_dir=None,
          max_instances=None, eval_lengths=None, eval_seeds=None, greedy_eval=False, quiet=True):
    """Trains a policy with recurrent PPO, exactly as ``train-srmt`` does with the same options.

    ``config`` is a TOML config file (``trainers/configs/*.toml``; ``train-srmt``'s defaults, SRMT on
    the Bottleneck, when ``None``). ``run_dir`` is the run folder (``runs/<core>-<reward>-seed<seed>``
    when ``None``); ``resume=True`` continues it from its last checkpoint. The other options are
    ``train-srmt``'s flags (``eval_lengths``: corridor lengths of the final Bottleneck table, ``[]``
    to skip it). Returns the run folder as a ``pathlib.Path``. Bad options raise ``TypeError`` or
    ``ValueError`` before any training."""
    args = []
    config = _path("config", config)
    run_dir = _path("run_dir", run_dir)
    if config is not None:
        args += ["--config", config]
    if run_dir is not None:
        parent, name = os.path.split(os.path.normpath(run_dir))
        if not name or name in (".", ".."):
            raise ValueError(f"run_dir {run_dir!r} does not name a run folder")
        args += ["--runs", parent or ".", "--run", name]
    for flag, value in (("--core", core), ("--reward", reward), ("--device", device)):
        _check(flag[2:], value, (str,), "a str")
        if value is not None:
            args += [flag, value]
    for flag, value, minimum in (("--seed", seed, 0), ("--total-agent-steps", total_agent_steps, 1),
                                 ("--threads", threads, 1), ("--max-instances", max_instances, 1),
                                 ("--eval-seeds", eval_seeds, 1)):
        value = _whole(flag[2:].replace("-", "_"), value, minimum)
        if value is not None:
            args += [flag, str(value)]
    _check("minutes", minutes, (numbers.Real,), "a number")
    if minutes is not None:
        if not math.isfinite(minutes) or minutes <= 0:
            raise ValueError(f"minutes must be a positive number, not {minutes}")
        args += ["--minutes", repr(float(minutes))]
    maps_dir = _path("maps_dir", maps_dir)
    if maps_dir is not None:
        args += ["--maps-dir", maps_dir]
    if eval_lengths is not None:
        if not _ints(eval_lengths):
            raise TypeError("eval_lengths must be a list of ints (corridor lengths)")
        args += ["--eval-lengths", ",".join(str(int(v)) for v in eval_lengths)]
    for flag, on in (("--resume", resume), ("--greedy-eval", greedy_eval), ("--quiet", quiet)):
        if not isinstance(on, bool):
            raise TypeError(f"{flag[2:].replace('-', '_')} must be a bool")
        if on:
            args.append(flag)
    return Path(_rmapf.train(args))


def evaluation_request(policy, suites, *, label=None, greedy=False, temperature=None, seeds=None,
                       agents=None, max_maps=None, maps_dir=None, threads=2, batch=64,
                       timing=True):
    """The JSON request of an evaluation (the options of ``evaluate run``), checked for types."""
    policy = _path("policy", policy)
    if policy is None:
        raise TypeError("policy must be a built-in policy name or a checkpoint folder")
    if isinstance(suites, (str, os.PathLike)):
        suites = [suites]
    suites = [_path("suites", s) for s in suites]
    if not suites:
        raise ValueError("give at least one suite")
    _check("label", label, (str,), "a str")
    for name, values in (("seeds", seeds), ("agents", agents)):
        if values is not None and not _ints(values):
            raise TypeError(f"{name} must be a list of ints")
    max_maps = _whole("max_maps", max_maps, 1)
    threads = _whole("threads", threads, 1)
    batch = _whole("batch", batch, 1)
    for name, value in (("greedy", greedy), ("timing", timing)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool")
    _check("temperature", temperature, (numbers.Real,), "a number")
    request = dict(policy=policy, label=label, greedy=greedy, suites=suites,
                   seeds=None if seeds is None else [int(v) for v in seeds],
                   agents=None if agents is None else [int(v) for v in agents],
                   max_maps=max_maps, maps_dir=_path("maps_dir", maps_dir), threads=threads,
                   batch=batch, timing=timing)
    if temperature is not None:
        # Rust checks the value (positive and finite), as for `evaluate run --temperature`.
        request["temperature"] = float(temperature)
    return json.dumps(request)


def records(csv_bytes):
    """The rows of an ``episodes.csv`` (bytes) as dicts: numbers as ``float``/``int``, empty
    cells as ``None``."""
    rows = []
    for row in csv.DictReader(io.StringIO(csv_bytes.decode())):
        parsed = {}
        for key, value in row.items():
            if value == "":
                parsed[key] = None
            elif key in ("policy", "suite", "map"):
                parsed[key] = value
            elif key in ("agents", "seed"):
                parsed[key] = int(value)
            else:
                parsed[key] = float(value)
        rows.append(parsed)
    return rows


def policies_of(policy):
    """One policy or a list of them as a non-empty list."""
    if isinstance(policy, (str, os.PathLike)):
        return [policy]
    if isinstance(policy, (list, tuple)) and policy:
        return list(policy)
    raise TypeError("policy must be a built-in policy name, a checkpoint folder or a non-empty list "
                    "of them")


def requests_of(policy, suites, label=None, **options):
    """The JSON request of each policy of an evaluation (``policy``: one, or a list of them)."""
    policies = policies_of(policy)
    if label is not None and len(policies) > 1:
        raise ValueError("label names one policy; several policies keep their own names")
    return [evaluation_request(p, suites, label=label, **options) for p in policies]


def plans_of(requests):
    """Each request's ``(label, tasks)``, checked in Rust: every error of every request, and two
    policies sharing a name in the results, before any work."""
    plans = [_rmapf.evaluation_plan(r) for r in requests]
    labels = [name for name, _ in plans]
    repeated = sorted({name for name in labels if labels.count(name) > 1})
    if repeated:
        raise ValueError(f"two policies would share the name {repeated[0]!r} in the results: give "
                         "each a distinct label (one evaluation per policy, or checkpoint folders of "
                         "different runs)")
    return plans


def write_together(csvs, out, maps_dir):
    """The episodes of one or more policies (each the bytes of an ``episodes.csv``) as a list of
    dicts, their files written together into ``out`` when it is not ``None``."""
    if out is not None:
        _rmapf.evaluation_write(csvs, out, maps_dir)
    return [row for rows in csvs for row in records(rows)]


def evaluate(policy, suites, *, out="results/latest", label=None, greedy=False, temperature=None,
             seeds=None, agents=None, max_maps=None, maps_dir=None, threads=2, batch=64,
             timing=True):
    """Evaluates a policy on suites, exactly as ``evaluate run`` does with the same options.

    ``policy`` is a built-in name (``pibt``, ``follower-planner``, ``astar-follower``, ...) or a
    checkpoint folder written by training, or a list of them (then evaluated one after the other
    and written together, as ``evaluate compare`` merges ``evaluate run`` folders; ``label``
    applies to a single policy only). ``suites`` is a suite name or file, or a list of them.
    ``temperature`` samples a checkpoint's actions at that temperature (``evaluate run
    --temperature``; ``None`` is the policy as trained).
    Writes ``episodes.csv``, ``summary.md`` and the plots into ``out`` (``None``: write nothing)
    and returns the episodes as a list of dicts (the rows of ``episodes.csv``). ``timing=False``
    leaves the decision-time column empty, which makes the files byte-identical between runs and
    equal to ``rmapf.ray.evaluate``'s."""
    requests = requests_of(policy, suites, label=label, greedy=greedy, temperature=temperature,
                           seeds=seeds, agents=agents,
                           max_maps=max_maps, maps_dir=maps_dir, threads=threads, batch=batch,
                           timing=timing)
    out = _path("out", out)
    if len(requests) > 1:
        plans_of(requests)  # the second policy's errors before the first one runs
    return write_together([_rmapf.evaluate(r) for r in requests], out, _path("maps_dir", maps_dir))
