"""rmapf beyond one machine, on Ray (``pip install 'rmapf[ray]'``).

``evaluate(...)`` splits an evaluation into its tasks (the batches of episodes ``evaluate run``
steps together, per suite), runs them as Ray tasks wherever Ray places them, and merges the results
into the same ``episodes.csv``, ``summary.md`` and plots as ``rmapf.evaluate``: with
``timing=False`` the files are byte-identical, whatever the number of nodes or the order tasks
finish in. A task lost with its node is run again elsewhere (Ray's task retries); nothing else is
redone.

``sweep(...)`` runs the SRMT paper's Bottleneck grid (cores × rewards × seeds of ``train-srmt``
runs) as Ray Tune trials: each trial is one ``rmapf.train`` run in the sweep's folder, reporting
every iteration to Tune; a trial whose node dies is restarted by Tune and resumes its run from the
last checkpoint. At the end the sweep's table (``sweep.md``) and figure are written as
``bottleneck-sweep`` writes them.

From the command line: ``python -m rmapf.ray evaluate --policy pibt --suite mazes --out DIR`` and
``python -m rmapf.ray sweep --cores srmt --rewards sparse --seeds 0,1,2 --runs DIR``; both join
the cluster named by ``--address`` (or ``RAY_ADDRESS``), else start Ray on this machine.
"""
import argparse
import hashlib
import json
import numbers
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import _rmapf
from .tools import plans_of, records, requests_of, write_together

__all__ = ["evaluate", "sweep", "SweepResult"]

#: What to install when Ray is missing.
EXTRA = "pip install 'rmapf[ray]'"


def _ray():
    """The ``ray`` package, or an ``ImportError`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(f"rmapf.ray needs Ray, which is not installed: {EXTRA}") from None
    if not hasattr(ray, "remote"):
        # e.g. Ray's own /tmp/ray session folder, imported as a namespace package from /tmp.
        where = list(getattr(ray, "__path__", [])) or getattr(ray, "__file__", "?")
        raise ImportError(f"the 'ray' imported from {where} is not Ray (a folder named 'ray' on the "
                          f"Python path?); rmapf.ray needs Ray: {EXTRA}")
    return ray


def _connect(ray, address):
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)


def _probe():
    """Runs on a node: the rmapf version installed there (the import itself is the check)."""
    import rmapf

    return rmapf.__version__


def _check_nodes(ray, cpus):
    """Before any work is scheduled: every alive node can import rmapf (the wheel is installed
    there) and at least one node has ``cpus`` CPUs for a task."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(_probe)
    refs = {}
    for n in nodes:
        if n.get("Resources", {}).get("CPU", 0) < 1:
            continue
        strategy = NodeAffinitySchedulingStrategy(node_id=n["NodeID"], soft=False)
        # No CPU asked: the probe runs at once even where the CPUs are busy with other work.
        refs[n["NodeManagerAddress"] + " " + n["NodeID"][:8]] = probe.options(
            num_cpus=0, scheduling_strategy=strategy, max_retries=0).remote()
    if not refs:
        raise RuntimeError("the Ray cluster has no node with a CPU to run rmapf tasks on")
    missing = []
    for node, ref in refs.items():
        try:
            ray.get(ref, timeout=120)
        except ray.exceptions.GetTimeoutError:
            missing.append(f"{node}: no answer within 120 s (is the node overloaded or unreachable?)")
        except Exception as e:  # the node's worker could not import rmapf (or died)
            missing.append(f"{node}: {type(e).__name__}: {str(e).strip().splitlines()[-1]}")
    if missing:
        raise RuntimeError("rmapf is not usable on every node of the Ray cluster (install the same "
                           "rmapf wheel on each node): " + "; ".join(missing))
    most = max(n.get("Resources", {}).get("CPU", 0) for n in nodes)
    if most < cpus:
        raise ValueError(f"each task asks for {cpus} CPUs (threads), but the largest node of the "
                         f"cluster has {most:g}: pass cpus_per_task={int(most)} or fewer threads")


def _pack(folder):
    """A checkpoint folder as ``{relative path: bytes}`` (to ship to nodes that lack it)."""
    files = {}
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


_UNPACKED = {}


def _unpack(files):
    """Writes a packed checkpoint into a private folder of this worker (once per content)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name])
    key = digest.hexdigest()
    if key not in _UNPACKED:
        root = Path(tempfile.mkdtemp(prefix="rmapf-checkpoint-"))
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        _UNPACKED[key] = str(root)
    return _UNPACKED[key]


def _run_task(request_json, task_json, checkpoint):
    """One task on a node: the task and its records (the bytes of an ``episodes.csv``)."""
    if checkpoint is not None:
        request = json.loads(request_json)
        request["policy"] = _unpack(checkpoint)
        request_json = json.dumps(request)
    return task_json, _rmapf.evaluation_run_task(request_json, task_json)


def evaluate(policy, suites, *, out="results/latest", address=None, cpus_per_task=None,
             max_retries=3, progress=None, label=None, **options):
    """Evaluates ``policy`` (one, or a list of policies) on ``suites`` on a Ray cluster; the options
    and the files written into ``out`` are those of ``rmapf.evaluate`` (``out=None``: write
    nothing), and so is the returned list of episodes.

    ``address`` is the cluster to join (``ray.init``'s; ignored when Ray is already initialised).
    Every task of every policy is submitted at once; each asks Ray for ``cpus_per_task`` CPUs
    (default: ``threads``). A task lost with its node is retried up to ``max_retries`` times.
    ``progress(done, total)`` is called after each finished task. A checkpoint policy is read here
    and shipped to the nodes with its tasks."""
    ray = _ray()
    requests = requests_of(policy, suites, label=label, **options)
    plans = plans_of(requests)
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a path, not {type(out).__name__}")
    fields = json.loads(requests[0])
    cpus = fields["threads"] if cpus_per_task is None else cpus_per_task
    if isinstance(cpus, bool) or not isinstance(cpus, numbers.Real) or cpus <= 0:
        raise ValueError(f"cpus_per_task must be a positive number, not {cpus!r}")
    _connect(ray, address)
    _check_nodes(ray, cpus)
    run = ray.remote(_run_task).options(num_cpus=cpus, max_retries=max_retries)
    sent, owner, pending = [], {}, []
    for k, (request, (name, tasks)) in enumerate(zip(requests, plans)):
        fields = json.loads(request)
        # The label is fixed here: on the nodes, a shipped checkpoint lies in a folder of another
        # name.
        sent.append(json.dumps(dict(fields, label=name)))
        shipped = ray.put(_pack(fields["policy"])) if os.path.isdir(fields["policy"]) else None
        for task in tasks:
            ref = run.remote(sent[k], task, shipped)
            owner[ref] = k
            pending.append(ref)
    total = len(pending)
    results = [[] for _ in requests]
    finished = 0
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results[owner[done[0]]].append(ray.get(done[0]))
        finished += 1
        if progress is not None:
            progress(finished, total)
    csvs = [_rmapf.evaluation_merge(s, r) for s, r in zip(sent, results)]
    return write_together(csvs, None if out is None else os.fspath(out), fields["maps_dir"])


#: The test corridor lengths of `bottleneck-sweep` (each run's final evaluation).
SWEEP_LENGTHS = (3, 5, 8, 12, 16, 20, 30, 40, 50, 100, 200, 300, 400)


def _names(name, values, kind):
    """``values`` (one value or a list of them, each a ``kind``: ``str`` or ``int``, numpy's
    integers included) as a list without repeats."""
    check = numbers.Integral if kind is int else kind
    if isinstance(values, (str, numbers.Integral)):
        values = [values]
    values = list(values)
    if not values or not all(isinstance(v, check) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name} must be a non-empty list of {kind.__name__}")
    return list(dict.fromkeys(kind(v) for v in values))


def _locked(folder):
    """Whether a trainer holds the run folder's lock (``train-srmt`` takes it for the whole run)."""
    import fcntl

    path = Path(folder) / "lock"
    if not path.exists():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _run_name(cell):
    return f"{cell['core']}-{cell['reward']}-seed{cell['seed']}"


def _restore(checkpoint, run_dir):
    """Copies a run folder saved as a Tune checkpoint back where the run lives."""
    with checkpoint.as_directory() as saved:
        shutil.copytree(saved, run_dir, dirs_exist_ok=True)


def _sweep_trial(config):
    """One Tune trial: one cell carried to its end, every iteration reported to Tune and every
    checkpoint saved into Tune's storage (the whole run folder). A restarted trial resumes from the
    run folder, or, when that folder lost its checkpoint (a node's local disk gone with the node),
    from the last checkpoint Tune saved."""
    from ray import tune

    cell = config["cell"]
    run_dir = Path(config["runs"]) / _run_name(cell)
    saved = tune.get_checkpoint()
    if saved is not None and not (run_dir / "checkpoint").is_dir():
        _restore(saved, run_dir)
    first = []

    def report(line, checkpointed):
        log = json.loads(line)
        if not first:
            first.append(log["iteration"])
        metrics = {k: log[k] for k in ("iteration", "agent_steps", "csr", "isr", "episode_return",
                                       "entropy") if k in log}
        # Above 1 when this attempt resumed a run from a checkpoint (after its node died).
        metrics["started_at_iteration"] = first[0]
        checkpoint = tune.Checkpoint.from_directory(run_dir) if checkpointed else None
        tune.report(metrics, checkpoint=checkpoint)

    _rmapf.sweep_cell(cell["core"], cell["reward"], cell["seed"], config["runs"], config["configs"],
                      config["extra"], config["fresh"], report)
    final = [r for r in records((run_dir / "eval.csv").read_bytes()) if r["policy"] == "final"]
    tune.report({"test_csr": sum(r["CSR"] or 0.0 for r in final) / max(1, len(final)),
                 "started_at_iteration": first[0] if first else None},
                checkpoint=tune.Checkpoint.from_directory(run_dir))


class SweepResult:
    """What ``sweep`` returns: ``table``, the Markdown of ``sweep.md``, and ``trials``, per cell
    (in run order) its last metrics reported to Tune (``test_csr``: the final model's mean test
    CSR; ``started_at_iteration``: above 1 when the trial's last attempt resumed a run) and its
    error, if any."""

    def __init__(self, table, trials):
        self.table = table
        self.trials = trials

    def __repr__(self):
        return f"SweepResult({len(self.trials)} trials)\n{self.table}"


def sweep(cores=("srmt", "rmt"), rewards=("sparse",), seeds=(0, 1, 2), *, runs, configs=None,
          total_agent_steps=None, max_instances=None, eval_lengths=SWEEP_LENGTHS, eval_seeds=10,
          cpus_per_trial=2, max_failures=3, address=None, name="bottleneck-sweep", storage_path=None):
    """The SRMT paper's Bottleneck grid as a Ray Tune sweep: one trial per core × reward × seed,
    each a ``train-srmt`` run in ``runs/<core>-<reward>-seed<seed>`` from
    ``configs/bottleneck-<core>-<reward>.toml`` (default: the configs shipped with rmapf), evaluated
    at its end on the test corridors.

    A trial reports every iteration to Tune and saves every checkpoint (the run folder) into Tune's
    storage (``storage_path``, default ``runs/tune``; on a cluster, storage every node and the
    driver reach, as Tune requires). A trial whose node dies is restarted (up to ``max_failures``
    times) and resumes from its last checkpoint: the run folder's, or Tune's when the folder is gone
    with the node. It ends exactly as an uninterrupted run would. Finished runs are skipped, partial ones resumed: the sweep can be stopped and started
    again. Every cell is checked before any trial starts (cores, rewards, config files, run
    folders). Writes ``runs/sweep.md`` and ``runs/sweep-csr.png``/``.svg`` at the end and returns
    a ``SweepResult`` (the table and each trial's last metrics)."""
    ray = _ray()
    from ray import tune

    cores = _names("cores", cores, str)
    rewards = _names("rewards", rewards, str)
    seeds = _names("seeds", seeds, int)
    if not isinstance(runs, (str, os.PathLike)):
        raise TypeError("runs must be a path")
    runs = os.path.abspath(os.fspath(runs))
    if configs is not None:
        configs = os.path.abspath(os.fspath(configs))
    lengths = _names("eval_lengths", eval_lengths, int)
    extra = ["--eval-lengths", ",".join(map(str, lengths)), "--quiet"]
    for flag, value in (("--eval-seeds", eval_seeds), ("--total-agent-steps", total_agent_steps)):
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{flag[2:].replace('-', '_')} must be a positive int, not {value!r}")
            extra += [flag, str(int(value))]
    fresh = []
    if max_instances is not None:
        if isinstance(max_instances, bool) or not isinstance(max_instances, numbers.Integral) or max_instances < 1:
            raise ValueError(f"max_instances must be a positive int, not {max_instances!r}")
        fresh += ["--max-instances", str(int(max_instances))]
    os.makedirs(runs, exist_ok=True)
    names = _rmapf.sweep_plan(cores, rewards, seeds, runs, configs, extra, fresh)
    busy = [n for n in names if _locked(os.path.join(runs, n))]
    if busy:
        raise ValueError(f"a trainer is already running in {', '.join(busy)} (under {runs}): another "
                         "sweep uses this runs folder; wait for it or choose another")
    _connect(ray, address)
    _check_nodes(ray, cpus_per_trial)
    cells = [dict(core=c, reward=r, seed=s) for r in rewards for c in cores for s in seeds]
    storage = os.path.abspath(os.fspath(storage_path)) if storage_path is not None else os.path.join(
        runs, "tune")
    trainable = tune.with_resources(_sweep_trial, {"cpu": cpus_per_trial})
    tuner = tune.Tuner(
        trainable,
        param_space=dict(cell=tune.grid_search(cells), runs=runs, configs=configs, extra=extra,
                         fresh=fresh),
        tune_config=tune.TuneConfig(max_concurrent_trials=None),
        run_config=tune.RunConfig(name=name, storage_path=storage,
                                  failure_config=tune.FailureConfig(max_failures=max_failures),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                  verbose=0))
    results = tuner.fit()
    for r in results:
        # A run folder the driver cannot see (node-local storage) comes back from Tune's storage.
        run_dir = Path(runs) / _run_name(r.config["cell"])
        if r.checkpoint is not None and not (run_dir / "eval.csv").exists():
            _restore(r.checkpoint, run_dir)
    trials = sorted(({"cell": r.config["cell"], "metrics": dict(r.metrics or {}), "error": r.error}
                     for r in results), key=lambda t: cells.index(t["cell"]))
    errors = [f"{t['cell']}: {t['error']}" for t in trials if t["error"] is not None]
    table = _rmapf.sweep_report(cores, rewards, seeds, runs)
    if errors:
        raise RuntimeError("trials that failed (after their retries): " + "; ".join(errors))
    return SweepResult(table, trials)


def main(argv=None):
    """``python -m rmapf.ray evaluate ...`` / ``sweep ...``."""
    parser = argparse.ArgumentParser(prog="python -m rmapf.ray", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="a distributed `evaluate run`")
    e.add_argument("--policy", action="append", required=True,
                   help="a built-in policy or a checkpoint folder (repeatable)")
    e.add_argument("--suite", action="append", required=True)
    e.add_argument("--label")
    e.add_argument("--greedy", action="store_true")
    e.add_argument("--temperature", type=float)
    e.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")])
    e.add_argument("--agents", type=lambda s: [int(v) for v in s.split(",")])
    e.add_argument("--max-maps", type=int)
    e.add_argument("--maps-dir")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--batch", type=int, default=64)
    e.add_argument("--no-timing", action="store_true")
    e.add_argument("--out", default="results/latest")
    e.add_argument("--address", default=None)
    e.add_argument("--cpus-per-task", type=float)
    w = sub.add_parser("sweep", help="the Bottleneck sweep as Ray Tune trials")
    w.add_argument("--cores", default="srmt,rmt")
    w.add_argument("--rewards", default="sparse")
    w.add_argument("--seeds", default="0,1,2")
    w.add_argument("--runs", required=True)
    w.add_argument("--configs")
    w.add_argument("--total-agent-steps", type=int)
    w.add_argument("--max-instances", type=int)
    w.add_argument("--eval-lengths", default=",".join(map(str, SWEEP_LENGTHS)))
    w.add_argument("--eval-seeds", type=int, default=10)
    w.add_argument("--cpus-per-trial", type=float, default=2)
    w.add_argument("--max-failures", type=int, default=3)
    w.add_argument("--address", default=None)
    w.add_argument("--storage-path", default=None, help="Tune's storage (default RUNS/tune)")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        rows = evaluate(args.policy, args.suite, out=args.out, address=args.address,
                        cpus_per_task=args.cpus_per_task, label=args.label, greedy=args.greedy,
                        temperature=args.temperature, seeds=args.seeds, agents=args.agents,
                        max_maps=args.max_maps, maps_dir=args.maps_dir, threads=args.threads,
                        batch=args.batch, timing=not args.no_timing,
                        progress=lambda d, t: print(f"{d}/{t} tasks", file=sys.stderr))
        print(f"{len(rows)} episodes; wrote {args.out}/episodes.csv and summary.md")
    else:
        md = sweep(args.cores.split(","), args.rewards.split(","),
                   [int(v) for v in args.seeds.split(",")], runs=args.runs, configs=args.configs,
                   total_agent_steps=args.total_agent_steps, max_instances=args.max_instances,
                   eval_lengths=[int(v) for v in args.eval_lengths.split(",")],
                   eval_seeds=args.eval_seeds, cpus_per_trial=args.cpus_per_trial,
                   max_failures=args.max_failures, address=args.address,
                   storage_path=args.storage_path)
        print(md.table)
        print(f"wrote {args.runs}/sweep.md and sweep-csr.png/.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
