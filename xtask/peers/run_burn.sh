#!/usr/bin/env bash
# Measures burn 0.22 (backends flex and ndarray) on W1 (SGD with momentum, Adam; batch 128) and
# W1i (batch 256) on this machine, each run in its own process, at 2 threads, and appends peer
# records to OUT.jsonl; compare with `cargo xtask bench --compare OUT.jsonl`. Builds
# xtask/peers/burn_w1 first (natively, about 8 minutes on 2 cores; needs the crates registry).
# usage: run_burn.sh OUT.jsonl
set -euo pipefail
OUT=${1:?usage: run_burn.sh OUT.jsonl}
DIR=$(cd "$(dirname "$0")/burn_w1" && pwd)
echo "building $DIR (release, -C target-cpu=native)" >&2
(cd "$DIR" && RUSTFLAGS="-C target-cpu=native" cargo build --release -j2 >&2)
export RAYON_NUM_THREADS=2 MATMUL_NUM_THREADS=2 MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296
for backend in flex ndarray; do
  for variant in sgd adam infer; do
    echo "== burn-$backend $variant" >&2
    "$DIR/target/release/burn-w1" "$backend" "$variant" >>"$OUT"
  done
done
