#!/usr/bin/env bash
# The GPU checks of the fast-training work, run on a machine with an NVIDIA GPU from binaries
# built on another (the GPU machine has no Rust toolchain or network). Build here:
#
#   CARGO_TARGET_DIR=target-cuda cargo build -p dualenc --features cuda
#   CARGO_TARGET_DIR=target-cuda cargo test -p dualenc-kernels -p dualenc-model --no-run \
#       --features dualenc-kernels/cuda,dualenc-model/cuda --test cubecl_kernels --test parity
#   mkdir -p target/gpu && cp target-cuda/debug/dualenc target-cuda/debug/deps/{cubecl_kernels,parity}-* target/gpu/
#   strip target/gpu/*   # then carry target/gpu
#
# and run there, from the repository root: `scripts/gpu-check.sh target/gpu "$OUT"`. It checks
# the CubeCL GRU kernels and two training steps against the reference on the GPU, then times
# training and encoding at the paper's sizes in f32 and bf16 (JSON lines in OUT/bench.jsonl).
set -uo pipefail
BIN=${1:?usage: scripts/gpu-check.sh BIN_DIR [OUT_DIR]}
OUT=${2:-.}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
export CUDA_PATH=${CUDA_PATH:-/usr/local/cuda}
export DUALENC_FIXTURES=$PWD/fixtures/reference
nvidia-smi -L || true

run() {
    local name=$1
    shift
    echo "== $name: $*"
    timeout 240 "$@" >"$OUT/$name.log" 2>&1
    echo "rc $?"
    tail -n 4 "$OUT/$name.log"
}

test_binary() {
    ls "$BIN/$1"-* 2>/dev/null | grep -v '\.d$' | head -n 1
}

run kernels "$(test_binary cubecl_kernels)"
run parity "$(test_binary parity)" on_cuda
for precision in f32 bf16; do
    run "bench_$precision" "$BIN/dualenc" bench all --device cuda --steps 10 --warmup 3 \
        --precision "$precision" --json
    grep '^{' "$OUT/bench_$precision.log" >>"$OUT/bench.jsonl"
done
