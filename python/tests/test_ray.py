"""rmapf on a Ray cluster of several nodes on this machine (``ray.cluster_utils.Cluster``: each node
its own raylet and workers), with a node removed in the middle of the work.

Ray advertises the machine's interface address and listens on every interface, so these tests run
only inside a private network namespace that has loopback alone; the README's test command starts
them so (``unshare -n`` then ``ip link set lo up``) with ``RMAPF_RAY_TESTS=1``, which turns every
reason to skip into a failure. Elsewhere (no Ray, or a namespace with other interfaces) they skip.
The cluster is this module's own: only its processes are stopped, never a machine-wide ``ray stop``.
"""
import fcntl
import ipaddress
import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REQUIRED = os.environ.get("RMAPF_RAY_TESTS") == "1"


def _skip(reason):
    if REQUIRED:
        pytest.fail(f"RMAPF_RAY_TESTS=1 but {reason}")
    pytest.skip(reason, allow_module_level=True)


def _interfaces():
    """The network interfaces of this process's namespace."""
    return sorted(name for _, name in socket.if_nameindex())


if _interfaces() != ["lo"]:
    _skip(f"not in a loopback-only network namespace (interfaces {_interfaces()}); "
          "see the README's test command")
ray = pytest.importorskip("ray") if not REQUIRED else __import__("ray")
import rmapf  # noqa: E402
import rmapf.ray as rray  # noqa: E402
from rmapf.tools import evaluate, records, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    """A head that runs no tasks and two worker nodes of two CPUs each (a task asks for its threads)."""
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [c.add_node(num_cpus=2) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    yield c, workers
    ray.shutdown()
    c.shutdown()


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(Path(folder).iterdir())}


def _listening():
    """(address, port) of every listening TCP socket in this namespace."""
    out = []
    for table, family in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            host, port = fields[1].split(":")
            raw = bytes.fromhex(host)
            if family == 4:
                addr = ipaddress.IPv4Address(raw[::-1])
            else:
                addr = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            out.append((addr, int(port, 16)))
    return out


def test_ray_listens_on_loopback_only(cluster):
    listening = _listening()
    assert listening, "the cluster listens nowhere?"
    for addr, port in listening:
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        # Unspecified (every interface) is loopback here: the namespace has no other interface.
        assert addr.is_loopback or addr.is_unspecified, (addr, port)
    assert _interfaces() == ["lo"]
    assert all(n["NodeManagerAddress"].startswith("127.") for n in ray.nodes())


def test_a_distributed_evaluation_equals_the_single_machine_one_byte_for_byte(cluster, tmp_path):
    options = dict(max_maps=2, seeds=[0, 1], agents=[8, 16], batch=2, timing=False)
    single = evaluate("pibt", ["mazes", "random"], out=tmp_path / "single", **options)
    progress = []
    distributed = rray.evaluate("pibt", ["mazes", "random"], out=tmp_path / "ray",
                                progress=lambda d, t: progress.append((d, t)), **options)
    assert distributed == single and len(single) == 16
    assert progress[-1] == (8, 8)
    files = _files(tmp_path / "single")
    assert set(files) >= {"episodes.csv", "summary.md", "mazes-throughput.png"}
    assert _files(tmp_path / "ray") == files


def test_several_policies_on_the_cluster_equal_the_single_machine_files(cluster, tmp_path):
    options = dict(max_maps=2, seeds=[0], agents=[8, 16], batch=1, timing=False)
    policies = ["pibt", "follower-planner", "random"]
    single = evaluate(policies, ["mazes", "random"], out=tmp_path / "single", **options)
    distributed = rray.evaluate(policies, ["mazes", "random"], out=tmp_path / "ray", **options)
    assert distributed == single and len(single) == 3 * 8
    assert _files(tmp_path / "ray") == _files(tmp_path / "single")


def test_a_node_without_a_working_rmapf_is_named_before_any_work(cluster, tmp_path):
    """A node whose workers cannot import rmapf (here a broken install shadows the wheel on it)."""
    c, _ = cluster
    broken = tmp_path / "shadow" / "rmapf"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('rmapf is not installed on this node')\n")
    node = c.add_node(num_cpus=2, env_vars={"PYTHONPATH": str(tmp_path / "shadow")})
    c.wait_for_nodes()
    try:
        with pytest.raises(RuntimeError, match="rmapf is not usable on every node.*not installed on this node"):
            rray.evaluate("pibt", "mazes", out=tmp_path / "never", max_maps=1)
        assert not (tmp_path / "never").exists()
    finally:
        c.remove_node(node)


def test_the_command_line_writes_the_files_of_evaluate_run(cluster, tmp_path, capsys):
    options = dict(max_maps=1, seeds=[0], agents=[8], timing=False)
    evaluate("follower-planner", "mazes", out=tmp_path / "single", **options)
    assert rray.main(["evaluate", "--policy", "follower-planner", "--suite", "mazes", "--max-maps", "1",
                      "--seeds", "0", "--agents", "8", "--no-timing", "--out",
                      str(tmp_path / "cli")]) == 0
    assert "1 episodes" in capsys.readouterr().out
    assert _files(tmp_path / "cli") == _files(tmp_path / "single")


def test_a_checkpoint_is_shipped_to_the_nodes_and_evaluates_the_same(cluster, tmp_path):
    run = train(run_dir=tmp_path / "runs" / "tiny", max_instances=2, total_agent_steps=512,
                eval_lengths=[], threads=1)
    assert run == tmp_path / "runs" / "tiny" and (run / "checkpoint").is_dir()
    options = dict(max_maps=3, seeds=[0, 1], batch=2, timing=False)
    single = evaluate(str(run / "checkpoint"), "bottleneck-test", out=tmp_path / "single", **options)
    distributed = rray.evaluate(run / "checkpoint", "bottleneck-test", out=tmp_path / "ray", **options)
    assert {r["policy"] for r in distributed} == {"tiny"}
    assert distributed == single
    assert _files(tmp_path / "ray") == _files(tmp_path / "single")


def test_a_node_removed_mid_evaluation_costs_only_its_tasks(cluster, tmp_path):
    c, _ = cluster
    extra = c.add_node(num_cpus=2)
    c.wait_for_nodes()
    options = dict(max_maps=8, seeds=[0, 1], agents=[64], batch=2, timing=False)
    policy = "pibt-lookahead:16:16"
    single = evaluate(policy, "mazes", out=tmp_path / "single", **options)
    removed = []

    def kill_one(done, total):
        if done == 2 and not removed:
            c.remove_node(extra)
            removed.append(done)

    distributed = rray.evaluate(policy, "mazes", out=tmp_path / "ray", progress=kill_one,
                                **options)
    assert removed, "the node was never removed"
    assert len([n for n in ray.nodes() if n["Alive"]]) == 3  # the head and the two first workers
    assert distributed == single
    assert _files(tmp_path / "ray") == _files(tmp_path / "single")


def test_bad_requests_fail_before_any_work(cluster):
    with pytest.raises(ValueError, match="unknown policy"):
        rray.evaluate("no-such-policy", "mazes", out=None)
    with pytest.raises(ValueError, match="suite"):
        rray.evaluate("pibt", "no-such-suite", out=None)
    with pytest.raises(TypeError, match="threads"):
        rray.evaluate("pibt", "mazes", out=None, threads="2")
    with pytest.raises(ValueError, match="largest node"):
        rray.evaluate("pibt", "mazes", out=None, max_maps=1, cpus_per_task=64)


def test_no_ray_gives_a_message_naming_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r"rmapf\[ray\]"):
        rray.evaluate("pibt", "mazes", out=None)


def _history(run):
    """A run's metrics without its timing fields (what one seed determines)."""
    timing = ("seconds", "agent_steps_per_s")
    return [{k: v for k, v in json.loads(line).items() if k not in timing}
            for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]


def _evaluation(run):
    return [{k: v for k, v in r.items() if k != "policy_ms_per_step"}
            for r in records((Path(run) / "eval.csv").read_bytes())]


def test_bad_sweeps_fail_before_any_trial(cluster, tmp_path):
    with pytest.raises(ValueError, match="unknown core"):
        rray.sweep(["srmt", "lstm"], ["sparse"], [0], runs=tmp_path / "a")
    with pytest.raises(ValueError, match="unknown reward"):
        rray.sweep(["srmt"], ["sparce"], [0], runs=tmp_path / "a")
    configs = tmp_path / "configs"
    configs.mkdir()
    text = (ROOT / "trainers/configs/bottleneck-srmt-sparse.toml").read_text()
    (configs / "bottleneck-srmt-sparse.toml").write_text(text.replace("[ppo]", "[ppo]\nlearning_rate = 1"))
    with pytest.raises(ValueError, match="learning_rate"):
        rray.sweep(["srmt"], ["sparse"], [0], runs=tmp_path / "a", configs=configs)
    # A run folder of the cell's name that holds another run.
    other = tmp_path / "b" / "srmt-sparse-seed0"
    other.mkdir(parents=True)
    (other / "config.toml").write_text(text.replace("seed = 0\ntotal", "seed = 7\ntotal"))
    with pytest.raises(ValueError, match="holds another run"):
        rray.sweep(["srmt"], ["sparse"], [0], runs=tmp_path / "b")
    with pytest.raises(ValueError, match="holds another run"):  # numpy seeds name the same cell
        rray.sweep(["srmt"], ["sparse"], np.arange(1), runs=tmp_path / "b")
    with pytest.raises(TypeError, match="seeds"):
        rray.sweep(["srmt"], ["sparse"], ["0"], runs=tmp_path / "a")
    # A run folder a trainer (here: this test) holds: another sweep is using the folder.
    busy = tmp_path / "c" / "srmt-sparse-seed0"
    busy.mkdir(parents=True)
    (busy / "config.toml").write_text(text)
    with open(busy / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="already running in srmt-sparse-seed0"):
            rray.sweep(["srmt"], ["sparse"], [0], runs=tmp_path / "c")


def test_a_sweep_with_a_node_removed_finishes_and_the_resumed_trial_equals_an_uninterrupted_run(
        cluster, tmp_path, capsys):
    """Two trials, one per worker node; a node is removed once both runs have checkpointed, with
    its trial's run folder, and Tune restarts that trial on the other node, where it resumes from
    the checkpoint in Tune's storage. Runs last (it removes a node of the module's cluster)."""
    c, workers = cluster
    configs = tmp_path / "configs"
    configs.mkdir()
    text = (ROOT / "trainers/configs/bottleneck-srmt-directional.toml").read_text()
    assert "checkpoint_every = 20" in text
    (configs / "bottleneck-srmt-directional.toml").write_text(
        text.replace("checkpoint_every = 20", "checkpoint_every = 5"))
    options = dict(total_agent_steps=40 * 4096, max_instances=64, eval_lengths=[3, 5], eval_seeds=1)
    runs = tmp_path / "sweep"
    names = ["srmt-directional-seed0", "srmt-directional-seed1"]
    removed = []

    lost = []

    def tune_holds_a_checkpoint_of_both():
        # A trial's checkpoint is safe once the driver has recorded the result it came with
        # (Tune persists the checkpoint before it sends the result); the run folder's own
        # checkpoint appears earlier, and a node removed in between leaves Tune nothing to
        # resume from.
        trials = 0
        for result_json in (runs / "tune").glob("*/*/result.json"):
            lines = result_json.read_text().splitlines()
            trials += any(json.loads(line).get("checkpoint_dir_name") for line in lines if line.strip())
        return trials >= len(names)

    def remove_a_node_once_both_checkpointed():
        deadline = time.time() + 300
        while time.time() < deadline:
            if tune_holds_a_checkpoint_of_both():
                c.remove_node(workers[0])
                removed.append(time.time())
                break
            time.sleep(0.05)
        # As if the run folder had been on the node's own disk: the folder of the killed trial
        # (the one whose lock no trainer holds any more) is gone. Its restart, which waits for the
        # other trial's node, must resume from the checkpoint Tune saved.
        while removed and time.time() < deadline:
            free = [n for n in names if not rray._locked(runs / n)
                    and not (runs / n / "eval.csv").exists()]
            if free:
                shutil.rmtree(runs / free[0])
                lost.append(free[0])
                return
            time.sleep(0.05)

    killer = threading.Thread(target=remove_a_node_once_both_checkpointed)
    killer.start()
    result = rray.sweep(["srmt"], ["directional"], [0, 1], runs=runs, configs=configs,
                        cpus_per_trial=2, **options)
    killer.join()
    assert removed, "no node was removed"
    assert lost, "no run folder was lost with the node"
    table = result.table
    assert "2 of 2 runs finished" in table
    assert [t["cell"]["seed"] for t in result.trials] == [0, 1]
    assert all(t["error"] is None and t["metrics"]["test_csr"] >= 0 for t in result.trials)
    # The trial on the removed node was restarted and resumed its run from a checkpoint.
    assert sorted(t["metrics"]["started_at_iteration"] > 1 for t in result.trials) == [False, True]
    assert (runs / "sweep.md").read_text() == table and (runs / "sweep-csr.png").stat().st_size > 0
    # Both runs, the interrupted one included, equal uninterrupted runs of the same cells.
    for seed, name in enumerate(names):
        alone = train(configs / "bottleneck-srmt-directional.toml", tmp_path / "alone" / name,
                      seed=seed, **options)
        assert _history(runs / name) == _history(alone), name
        assert _evaluation(runs / name) == _evaluation(alone), name
    # Started again, the sweep finds every run finished and trains nothing.
    started = time.time()
    again = rray.sweep(["srmt"], ["directional"], [0, 1], runs=runs, configs=configs,
                       cpus_per_trial=2, **options)
    assert again.table == table
    assert all(t["metrics"]["started_at_iteration"] is None for t in again.trials)
    assert all((runs / n / "eval.csv").stat().st_mtime < started for n in names)
    # So does the command line, which prints the table.
    assert rray.main(["sweep", "--cores", "srmt", "--rewards", "directional", "--seeds", "0,1",
                      "--runs", str(runs), "--configs", str(configs), "--max-instances", "64",
                      "--total-agent-steps", str(40 * 4096), "--eval-lengths", "3,5",
                      "--eval-seeds", "1"]) == 0
    assert table in capsys.readouterr().out
    assert all((runs / n / "eval.csv").stat().st_mtime < started for n in names)
