"""Single-machine ``rmapf.evaluate`` against ``rmapf.ray.evaluate`` on a local two-node Ray cluster
(one CPU each), same inputs, one after the other; prints both times and whether the files are
byte-identical. Run inside a loopback-only network namespace, as the tests do:

    unshare -n sh -c 'ip link set lo up && .venv-latest/bin/python python/benchmarks/bench_ray_evaluate.py follower-planner 128'
"""
import os
import sys
import tempfile
import time

import ray
from ray.cluster_utils import Cluster

import rmapf
import rmapf.ray


def main():
    policy = sys.argv[1] if len(sys.argv) > 1 else "follower-planner"
    max_maps = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    options = dict(max_maps=max_maps, timing=False, threads=1, batch=32)
    suites = ["random", "mazes"]
    out = tempfile.mkdtemp(prefix="rmapf-bench-ray-")
    t0 = time.perf_counter()
    rows = rmapf.evaluate(policy, suites, out=os.path.join(out, "single"), **options)
    single = time.perf_counter() - t0
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        t0 = time.perf_counter()
        rmapf.ray.evaluate(policy, suites, out=os.path.join(out, "ray"), cpus_per_task=1, **options)
        distributed = time.perf_counter() - t0
    finally:
        ray.shutdown()
        cluster.shutdown()
    names = sorted(os.listdir(os.path.join(out, "single")))
    same = names == sorted(os.listdir(os.path.join(out, "ray"))) and all(
        open(os.path.join(out, "single", n), "rb").read() == open(os.path.join(out, "ray", n), "rb").read()
        for n in names)
    print(f"{policy}, random + mazes, {max_maps} maps each: {len(rows)} episodes; single machine "
          f"(1 thread) {single:.1f} s; Ray, 2 nodes x 1 CPU {distributed:.1f} s "
          f"({single / distributed:.2f}x); files byte-identical: {same}")


if __name__ == "__main__":
    main()
