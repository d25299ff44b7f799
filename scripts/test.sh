#!/usr/bin/env bash
# rmapf's one test command: sets up the reference Python environment (pogema 1.4.0) on a fresh
# machine, then runs formatting and lint checks, every Rust test (unit, integration, the
# differential tests against numpy and pogema), the Python wheel with its pytest suite, and an
# end-to-end smoke run of the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import pogema, pogema_toolbox, pettingzoo, pytest, sys; sys.exit(pogema.__version__ != "1.4.0")' 2>/dev/null; then
    echo "== creating .venv with the reference stack (tests/requirements.txt)"
    python3 -m venv --clear .venv
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -r tests/requirements.txt
fi
export RMAPF_PYTHON="$PWD/.venv/bin/python"
# A test run builds from scratch on CI: incremental caches would only cost disk.
export CARGO_INCREMENTAL=0
# The POGEMA benchmark data and Follower's training mazes ship in maps/data: a clone is all the
# tests need. RMAPF_BENCHMARK_DATA / RMAPF_FOLLOWER_MAPS point the tests elsewhere if set.
export RMAPF_BENCHMARK_DATA="${RMAPF_BENCHMARK_DATA:-$PWD/maps/data/pogema-benchmark-lmapf}"
export RMAPF_FOLLOWER_MAPS="${RMAPF_FOLLOWER_MAPS:-$PWD/maps/data/learn-to-follow-training-maps}"
echo "benchmark data: $RMAPF_BENCHMARK_DATA"

echo "== [$(date +%T)] cargo fmt --check"
cargo fmt --all --check
echo "== [$(date +%T)] cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== [$(date +%T)] cargo test"
cargo test --workspace -- --nocapture
echo "== [$(date +%T)] Python wheel: pip install ./python, then pytest (parity with pogema, PettingZoo, Gymnasium, hostile input)"
.venv/bin/pip install --quiet ./python
.venv/bin/python -m pytest -q python/tests
echo "== [$(date +%T)] pogema 1.4.0's own test suite (from its source distribution on PyPI) against rmapf"
.venv/bin/python python/tests/pogema_own_suite.py
echo "== [$(date +%T)] pogema-toolbox 0.1.1 (the POGEMA benchmark's evaluator) on rmapf: the same results as on pogema"
.venv/bin/python python/benchmarks/pogema_toolbox_eval.py --out target/smoke-toolbox --maps 1 --seeds 1
echo "== [$(date +%T)] Python wheel against the latest gymnasium, pettingzoo and numpy 2.x (what users install; no pogema)"
if [ ! -x .venv-latest/bin/python ]; then
    python3 -m venv --clear .venv-latest
    .venv-latest/bin/pip install --quiet --upgrade pip
fi
.venv-latest/bin/pip install --quiet --upgrade -r tests/requirements-latest.txt
.venv-latest/bin/pip install --quiet ./python
.venv-latest/bin/python -c 'import gymnasium, pettingzoo, numpy; print("latest stack: gymnasium", gymnasium.__version__, "pettingzoo", pettingzoo.__version__, "numpy", numpy.__version__)'
.venv-latest/bin/python -m pytest -q python/tests
.venv-latest/bin/python python/tests/pogema_own_suite.py
echo "== [$(date +%T)] rmapf.ray on a local Ray cluster of three nodes, in a network namespace with loopback only"
# Ray listens on every interface: inside `unshare -n` the only one is loopback. The tests start
# and stop their own cluster (never a machine-wide `ray stop`); RMAPF_RAY_TESTS=1 makes a skip a
# failure.
unshare -n sh -c 'ip link set lo up && RMAPF_RAY_TESTS=1 exec .venv-latest/bin/python -m pytest -q python/tests/test_ray.py'
echo "== [$(date +%T)] smoke: the binaries end to end (dev profile: dependencies are already optimised and built)"
# Build the binaries with the same feature resolution as `cargo test` (dev-dependencies included):
# a plain `cargo build --bins` leaves out envs' dev-dependency proptest, which turns on features of
# fastrand and regex-syntax that burn-std and burn-core depend on, so it compiled burn a second time.
cargo build --quiet --workspace --all-targets
B=target/debug
$B/rollout-demo --episodes 2 --agents 8 --size 16 --steps 32
$B/rmapf-maps list
$B/rmapf-maps render --suite bottleneck-test --index 3 --out target/smoke-bottleneck.png
$B/rmapf-maps animate --suite mazes --index 1 --steps 16 --out target/smoke-maze.svg
$B/bench-env --config b64 --threads 2 --seconds 0.2 --episodes 8
# Hostile input ends with a clear error or a result, never a hang.
timeout 60 $B/bench-env --config b64 --threads 1000000000 --seconds 0.1 --episodes 2 2>target/smoke-threads.txt
grep -q "warning: --threads 1000000000 is more than the" target/smoke-threads.txt
sed 's/^copies = 1$/copies = 1000000000/' trainers/configs/bottleneck-rate-directional.toml > target/smoke-copies.toml
for bad in "$B/bench-env --seconds inf" \
    "$B/evaluate run --policy pibt --suite mazes --max-maps 0 --out target/smoke-empty" \
    "$B/rmapf-maps animate --suite mazes --index 1 --steps 4 --out target/smoke-maze.png" \
    "$B/train-srmt --runs target/smoke-runs --run bad --max-instances 0 --quiet" \
    "$B/train-srmt --runs target/smoke-runs --run ../escaped --total-agent-steps 1 --quiet" \
    "$B/bench-policy --rollout-agents 3 --seconds 0.01" \
    "$B/bench-env --config b64 --episodes 1000000000 --seconds 0.1" \
    "$B/train-srmt --runs target/smoke-runs --run huge --eval-lengths 3,1000000000 --quiet" \
    "$B/train-srmt --runs target/smoke-runs --run absent --eval-lengths 2,999 --quiet" \
    "$B/evaluate run --policy random --suite bottleneck-test --max-maps 1 --out /proc/rmapf-smoke/out" \
    "$B/train-srmt --runs target/smoke-runs --run copies --config target/smoke-copies.toml --quiet" \
    "$B/train-srmt --config trainers/configs/lifelong-srmt-lite.toml --maps-dir target/no-such-dir --runs target/smoke-runs --run bad-maps"; do
    set +e; timeout 60 $bad >/dev/null 2>&1; rc=$?; set -e
    # 0: accepted; 101: a panic; 124: hung until the timeout; above: killed by a signal.
    if [ $rc -eq 0 ] || [ $rc -eq 101 ] || [ $rc -ge 124 ]; then
        echo "not a clear error (exit $rc): $bad"; exit 1
    fi
done
$B/evaluate run --policy astar-follower --suite bottleneck-test --suite mazes --max-maps 3 \
    --out target/smoke-eval --animate 1 --maps-dir "$RMAPF_BENCHMARK_DATA"
$B/evaluate compare target/smoke-eval --out target/smoke-compare
# The centralised planners on every lifelong suite, one map and seed each.
$B/evaluate run --policy pibt --suite random --suite mazes --suite warehouse --suite movingai \
    --suite puzzles --max-maps 1 --seeds 0 --out target/smoke-pibt
grep -q "| movingai | pibt | all |" target/smoke-pibt/summary.md
$B/evaluate run --policy pibt-lookahead:4:4 --suite mazes --max-maps 2 --out target/smoke-lookahead
grep -q "| mazes | pibt-lookahead:4:4 | all |" target/smoke-lookahead/summary.md
# Lifelong: Follower's planner as a policy, then a tiny SRMT-lite run on Follower's training mazes
# (Follower's planner in the observation, the network reading r = 3 of the env's r = 5), resumed
# and evaluated on the benchmark mazes.
$B/evaluate run --policy follower-planner --suite random --suite mazes --max-maps 2 --seeds 0 \
    --out target/smoke-follower
grep -q "| mazes | follower-planner | all |" target/smoke-follower/summary.md
rm -rf target/smoke-runs
# A run killed before its first checkpoint resumes from scratch, and its history matches the
# uninterrupted run's line for line (timing fields aside).
$B/train-srmt --runs target/smoke-runs --run early --max-instances 1 --total-agent-steps 2048 \
    --eval-lengths "" --quiet > /dev/null
cp target/smoke-runs/early/metrics.jsonl target/smoke-early-full.jsonl
rm -rf target/smoke-runs/early/checkpoint target/smoke-runs/early/best
$B/train-srmt --runs target/smoke-runs --run early --resume --eval-lengths "" --quiet > target/smoke-early.log
grep -q "no checkpoint yet" target/smoke-early.log
.venv/bin/python - <<'PY'
import json
strip = lambda l: {k: v for k, v in json.loads(l).items() if k not in ("seconds", "agent_steps_per_s")}
a = [strip(l) for l in open("target/smoke-early-full.jsonl")]
b = [strip(l) for l in open("target/smoke-runs/early/metrics.jsonl")]
assert a == b and len(a) > 0, (len(a), len(b))
PY
# --resume refuses what would change the run (exit 1, a clear error).
set +e; $B/train-srmt --runs target/smoke-runs --run early --resume --seed 3 --quiet >/dev/null 2>&1; rc=$?; set -e
[ $rc -eq 1 ] || { echo "--resume --seed 3: exit $rc, expected a clear error"; exit 1; }
# The shipped lifelong config (advised by pibt-follower-local:3, which it also imitates; the
# intents and priorities planes; 128 agents, soft): train, resume, evaluate with the advice.
$B/train-srmt --config trainers/configs/lifelong-srmt-lite.toml \
    --runs target/smoke-runs --run lifelong --max-instances 1 --total-agent-steps 1024 --quiet
$B/train-srmt --runs target/smoke-runs --run lifelong --resume --quiet
grep -q '"observation": *"follower_priorities"' target/smoke-runs/lifelong/checkpoint/model/inputs.json
grep -q '"advice": *"pibt-follower-local:3"' target/smoke-runs/lifelong/checkpoint/model/inputs.json
grep -q '"imitation_weight":1' target/smoke-runs/lifelong/metrics.jsonl
$B/evaluate run --policy target/smoke-runs/lifelong/checkpoint --suite mazes --max-maps 1 \
    --seeds 0 --agents 8 --out target/smoke-eval-lifelong
grep -q "| mazes | lifelong | 8 | 1 |" target/smoke-eval-lifelong/summary.md
$B/train-srmt --runs target/smoke-runs --run tiny --max-instances 8 --total-agent-steps 1024 \
    --eval-lengths 3,5 --eval-seeds 2 --quiet
# A killed run resumes from its checkpoint and finishes.
$B/train-srmt --runs target/smoke-runs --run tiny --resume --quiet --eval-lengths 3 --eval-seeds 1
$B/evaluate run --policy target/smoke-runs/tiny/checkpoint --suite bottleneck-test --max-maps 2 \
    --seeds 0 --out target/smoke-eval-ckpt
test -s target/smoke-runs/tiny/curve-csr.png && test -s target/smoke-eval-ckpt/bottleneck-test-CSR.png
# The Bottleneck sweep: two tiny runs, their table and figure; started again, it skips them.
rm -rf target/smoke-sweep
$B/bottleneck-sweep --cores srmt --rewards directional --seeds 0,1 --runs target/smoke-sweep \
    --max-instances 4 --total-agent-steps 256 --eval-lengths 3,5 --eval-seeds 1 --quiet > /dev/null
grep -q "2 of 2 runs finished" target/smoke-sweep/sweep.md
test -s target/smoke-sweep/sweep-csr.png && test -s target/smoke-sweep/srmt-directional-seed1/eval.csv
$B/bottleneck-sweep --cores srmt --rewards directional --seeds 0,1 --runs target/smoke-sweep \
    --quiet | grep -q "srmt-directional-seed1: finished"
# RATE from its shipped config, and the policy micro-benchmark.
$B/train-srmt --config trainers/configs/bottleneck-rate-directional.toml --runs target/smoke-runs \
    --run rate --max-instances 4 --total-agent-steps 1024 --eval-lengths "" --quiet
$B/bench-policy --size bottleneck --cores srmt,rate --seconds 0.05
echo "== [$(date +%T)] all tests passed; target/ holds $(du -sh target | cut -f1), $(df -h . | awk 'NR==2 {print $4}') free"
