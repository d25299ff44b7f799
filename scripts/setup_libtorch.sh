#!/usr/bin/env bash
# Sets up libtorch 2.9.0 (what burn-tch 0.22.1 -> tch 0.22 -> torch-sys 0.22 expects) from PyPI,
# for `cargo build --release --features tch`.
#
#   scripts/setup_libtorch.sh cpu  [DIR]   slim CPU-only libtorch in DIR (default: libtorch/),
#                                         about 0.9 GB download, 490 MB on disk
#   scripts/setup_libtorch.sh cuda [DIR]   full torch==2.9.0 (CUDA 12.8) in a venv in DIR
#                                         (default: .venv-torch/), about 4 GB download
#   scripts/setup_libtorch.sh wheel VERSION [DIR]
#                                         headers and libtorch's own libraries of the torch
#                                         VERSION wheel (CUDA build, no CUDA libraries) in DIR
#                                         (default: libtorch-VERSION/), to build binaries here
#                                         that run on a GPU machine with that torch installed
#                                         (about 0.5 GB download; see the README)
#
# It prints the environment to export before building. trainers/build.rs then bakes the library
# folder into the binaries' rpath, so they start without LD_LIBRARY_PATH.
set -euo pipefail

# unpack_torch_wheel WHEEL OUT FILE...: the wheel's headers into OUT/include and the named files of
# its torch/lib/ into OUT/lib.
unpack_torch_wheel() {
    python3 - "$@" <<'PY'
import os, shutil, sys, zipfile
wheel, out, *files = sys.argv[1:]
keep = {f"torch/lib/{name}" for name in files}
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith("torch/include/") and not name.endswith("/"):
            dest = os.path.join(out, "include", name[len("torch/include/"):])
        elif name in keep:
            dest = os.path.join(out, "lib", os.path.basename(name))
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(name) as src, open(dest, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
}

mode=${1:-}
case "$mode" in
cpu)
    out=$(realpath -m "${2:-libtorch}")
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --no-deps -q -d "$work" torch==2.9.0 \
        nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90
    mkdir -p "$out/lib"
    # The torch wheel is the CUDA build; take its headers and CPU libraries only.
    unpack_torch_wheel "$work"/torch-2.9.0-*.whl "$out" libtorch_cpu.so libc10.so libgomp.so.1
    python3 - "$work" "$out" <<'PY'
import glob, os, shutil, sys, zipfile
work, out = sys.argv[1], sys.argv[2]
# libtorch_cpu.so NEEDs libcudart and libcupti even on CPU.
for pattern, member in (("nvidia_cuda_runtime_cu12-*.whl", "nvidia/cuda_runtime/lib/libcudart.so.12"),
                        ("nvidia_cuda_cupti_cu12-*.whl", "nvidia/cuda_cupti/lib/libcupti.so.12")):
    with zipfile.ZipFile(glob.glob(os.path.join(work, pattern))[0]) as z:
        with z.open(member) as src, open(os.path.join(out, "lib", os.path.basename(member)), "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
    # torch-sys always links -ltorch; the real libtorch.so needs libtorch_cuda.so: use an empty one.
    echo 'void rmapf_libtorch_stub(void) {}' > "$work/stub.c"
    cc -shared -fPIC -o "$out/lib/libtorch.so" "$work/stub.c"
    printf 2.9.0 > "$out/build-version"
    echo "CPU libtorch 2.9.0 in $out. Build with:"
    echo "  export LIBTORCH=$out"
    echo "  cargo build --release --features tch    # then: train-srmt --device tch-cpu"
    ;;
cuda)
    venv=$(realpath -m "${2:-.venv-torch}")
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q torch==2.9.0
    echo "torch 2.9.0 (CUDA 12.8) in $venv. Build with:"
    echo "  export VIRTUAL_ENV=$venv PATH=$venv/bin:\$PATH LIBTORCH_USE_PYTORCH=1"
    echo "  cargo build --release --features tch    # then: train-srmt --device cuda"
    ;;
wheel)
    version=${2:?usage: $0 wheel VERSION [DIR]}
    out=$(realpath -m "${3:-libtorch-$version}")
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download --no-deps -q --only-binary=:all: --python-version 3.11 \
        --platform manylinux_2_28_x86_64 -d "$work" "torch==$version"
    mkdir -p "$out/lib"
    unpack_torch_wheel "$work"/torch-"$version"-*.whl "$out" \
        libtorch.so libtorch_cpu.so libtorch_cuda.so libc10.so libc10_cuda.so
    printf %s "$version" > "$out/build-version"
    echo "torch $version's headers and libraries in $out (CUDA libraries are the GPU machine's). Build with:"
    echo "  LIBTORCH=$out LIBTORCH_BYPASS_VERSION_CHECK=1 RUSTFLAGS='-C link-arg=-Wl,--allow-shlib-undefined' \\"
    echo "    CARGO_TARGET_DIR=target-tch cargo build --release --features tch --bin train-srmt --bin evaluate"
    echo "and run there with that torch's lib/ on LD_LIBRARY_PATH."
    ;;
*)
    echo "usage: $0 cpu|cuda [DIR] | wheel VERSION [DIR]" >&2
    exit 2
    ;;
esac
