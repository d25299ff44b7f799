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
import os
import sys
import tempfile
from pathlib import Path

from . import _rmapf
from .tools import evaluation_request, records

__all__ = ["evaluate", "sweep"]

#: What to install when Ray is missing.
EXTRA = "pip install 'rmapf[ray]'"


def _ray():
    """The ``ray`` package, or an ``ImportError`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ImportError(f"rmapf.ray needs Ray, which is not installed: {EXTRA}") from None
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
        refs[n["NodeManagerAddress"] + " " + n["NodeID"][:8]] = probe.options(
            num_cpus=1, scheduling_strategy=strategy, max_retries=0).remote()
    if not refs:
        raise RuntimeError("the Ray cluster has no node with a CPU to run rmapf tasks on")
    missing = []
    for node, ref in refs.items():
        try:
            ray.get(ref, timeout=120)
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
             max_retries=3, progress=None, **options):
    """Evaluates ``policy`` on ``suites`` on a Ray cluster; the options and the files written into
    ``out`` are those of ``rmapf.evaluate`` (``out=None``: write nothing). Returns the episodes as a
    list of dicts, like ``rmapf.evaluate``.

    ``address`` is the cluster to join (``ray.init``'s; ignored when Ray is already initialised).
    Each task asks Ray for ``cpus_per_task`` CPUs (default: ``threads``). A task lost with its node
    is retried up to ``max_retries`` times. ``progress(done, total)`` is called after each finished
    task. A checkpoint policy is read here and shipped to the nodes with the tasks."""
    ray = _ray()
    request = evaluation_request(policy, suites, **options)
    label, tasks = _rmapf.evaluation_plan(request)  # every error of the request, before any work
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a path, not {type(out).__name__}")
    fields = json.loads(request)
    # The label is fixed here: on the nodes, a shipped checkpoint lies in a folder of another name.
    sent = json.dumps(dict(fields, label=label))
    checkpoint = _pack(fields["policy"]) if os.path.isdir(fields["policy"]) else None
    cpus = fields["threads"] if cpus_per_task is None else cpus_per_task
    if isinstance(cpus, bool) or not isinstance(cpus, (int, float)) or cpus <= 0:
        raise ValueError(f"cpus_per_task must be a positive number, not {cpus!r}")
    _connect(ray, address)
    _check_nodes(ray, cpus)
    shipped = None if checkpoint is None else ray.put(checkpoint)
    run = ray.remote(_run_task).options(num_cpus=cpus, max_retries=max_retries)
    pending = [run.remote(sent, task, shipped) for task in tasks]
    results = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        results.extend(ray.get(done))
        if progress is not None:
            progress(len(results), len(tasks))
    merged = _rmapf.evaluation_merge(sent, results, None if out is None else os.fspath(out))
    return records(merged)


def main(argv=None):
    """``python -m rmapf.ray evaluate ...`` / ``sweep ...``."""
    parser = argparse.ArgumentParser(prog="python -m rmapf.ray", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="a distributed `evaluate run`")
    e.add_argument("--policy", required=True)
    e.add_argument("--suite", action="append", required=True)
    e.add_argument("--label")
    e.add_argument("--greedy", action="store_true")
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
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        rows = evaluate(args.policy, args.suite, out=args.out, address=args.address,
                        cpus_per_task=args.cpus_per_task, label=args.label, greedy=args.greedy,
                        seeds=args.seeds, agents=args.agents, max_maps=args.max_maps,
                        maps_dir=args.maps_dir, threads=args.threads, batch=args.batch,
                        timing=not args.no_timing,
                        progress=lambda d, t: print(f"{d}/{t} tasks", file=sys.stderr))
        print(f"{len(rows)} episodes; wrote {args.out}/episodes.csv and summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
