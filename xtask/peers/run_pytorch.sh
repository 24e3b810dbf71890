#!/usr/bin/env bash
# Runs PyTorch eager on the workloads of WORKLOADS.md (W0 at n = 512, 1024, 2048, as in the peer
# files; W1-W5 with every variant, the CNNs in both memory layouts), each in its own process,
# with the allocator settings the peer figures were taken with, appending one JSON line per run
# to OUT.
#
# usage: run_pytorch.sh OUT.jsonl [--seconds S] [--threads N] [--python PY] [--nice] [--steps K] [--clean false]
set -euo pipefail
OUT=${1:?usage: run_pytorch.sh OUT.jsonl [--seconds S] [--threads N] [--python PY] [--nice] [--steps K] [--clean false]}
shift
SECONDS_ARG=10
THREADS=$(nproc)
PY=${PYTHON:-python3}
NICE=()
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_ARG=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --nice) NICE=(nice -n 19); shift ;;
    --steps) EXTRA+=(--steps "$2"); shift 2 ;;
    --clean) EXTRA+=(--clean "$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
SCRIPT="$(cd "$(dirname "$0")" && pwd)/pytorch_eager.py"

RUNS=(
  "W0 n512" "W0 n1024" "W0 n2048"
  "W1 sgd" "W1 adam" "W1i infer"
  "W2 adam" "W2 adam --channels-last"
  "W2i infer" "W2i infer --channels-last"
  "W3 sgd" "W3 sgd --channels-last"
  "W4 adam" "W5 adamw"
)
status=0
for run in "${RUNS[@]}"; do
  set -- $run
  wl=$1; var=$2; shift 2
  echo "== $wl $var $* (threads $THREADS, ${SECONDS_ARG}s)" >&2
  if ! env MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 \
      ${NICE[@]+"${NICE[@]}"} "$PY" "$SCRIPT" --workload "$wl" --variant "$var" "$@" \
      --threads "$THREADS" --seconds "$SECONDS_ARG" ${EXTRA[@]+"${EXTRA[@]}"} >>"$OUT"; then
    echo "!! $wl $var $* failed" >&2
    status=1
  fi
done
exit $status
