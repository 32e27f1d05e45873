#!/usr/bin/env bash
# One prepared GPU session: memgen's benchmarks at paper size and a Snakemake smoke run of the paper's model.
#
#   benchmarks/gpu.sh OUTDIR               on one H100, in one call of at most 8 minutes (budget: GPU_SH_BUDGET
#                                          seconds, default 450, shared out among the steps below)
#   benchmarks/gpu.sh --cpu-smoke OUTDIR   the same steps at tiny sizes on CPU, about a minute (tests/test_benchmarks.py)
#
# Steps, cheapest and most important first: environment (nvidia-smi, torch, CUDA) -> the CUDA tests of the fast
# path (pytest -k cuda) -> bench_score (10k samples x 50k images, 32x32) -> bench_sample (UNet-128, batch 256 vs
# 512) -> the smoke DAG (benchmarks/gpu-smoke.yaml: UNet-128, T=4000, 300 steps, 64 samples, scored) -> bench_dag
# (dry run of the paper preset; no-op rerun of the smoke DAG) -> bench_train (UNet-128 at batch 128 and 256:
# plain fp32 vs bf16 vs bf16 + channels_last) -> bench_budget (UNet-64 and -256: a train step and a sampling loop,
# plain vs fast, as seconds per 1k steps / samples) -> bench_train with torch.compile at batch 128 (compile time
# apart).
# Every step is checked: a failed or timed-out step does not stop the later ones (device time is scarce), but the
# script exits 1 and its last line names every failed step. Outputs (8 files, all small) in OUTDIR: gpu.log (this
# whole output), bench_{score,sample,dag,train,budget,train_compile}.json, smoke_replicates.parquet.
# The device image has no snakemake (and no jsonschema): when they are missing, the wheels that
# benchmarks/gpu_wheels.sh downloaded into .whl/ (carry it) are installed into /tmp/site.
set -euo pipefail

CPU_SMOKE=0
if [ "${1:-}" = "--cpu-smoke" ]; then CPU_SMOKE=1; shift; fi
if [ $# -ne 1 ]; then echo "usage: benchmarks/gpu.sh [--cpu-smoke] OUTDIR" >&2; exit 2; fi
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
cd "$REPO"
exec > >(tee "$OUT/gpu.log") 2>&1
TEE_PID=$!
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
BUDGET=${GPU_SH_BUDGET:-450}
T0=$(date +%s)
FAILED=()
WORK=$(mktemp -d /tmp/memgen-smoke.XXXXXX)

finish() {
  local rc=$?
  [ ${#FAILED[@]} -eq 0 ] || rc=1
  echo
  echo "== summary ($(( $(date +%s) - T0 )) s) =="
  "$PY" benchmarks/benchlib.py summarize "$OUT" || echo "(summary failed)"
  if [ "$rc" -ne 0 ] && [ ${#FAILED[@]} -eq 0 ]; then FAILED+=("gpu.sh itself (exit $rc)"); fi
  rm -rf "$WORK"
  if [ ${#FAILED[@]} -gt 0 ]; then echo "gpu.sh: FAILED: ${FAILED[*]}"; rc=1; else echo "gpu.sh: OK, every step passed"; fi
  exec 1>&- 2>&-
  wait "$TEE_PID" || true
  exit "$rc"
}
trap finish EXIT

# step NAME CAP_SECONDS COMMAND...: run under a timeout of min(CAP, what is left of the budget - 15 s); record failure.
step() {
  local name=$1 cap=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - T0) - 15 ))
  local limit=$(( cap < left ? cap : left ))
  echo
  echo "== $name (limit ${limit} s, $(( $(date +%s) - T0 )) s elapsed) =="
  if [ "$limit" -lt 10 ]; then echo "no time left for $name"; FAILED+=("$name (no time left)"); return 0; fi
  local start=$(date +%s) rc=0
  timeout --kill-after=10 "$limit" "$@" || rc=$?
  echo "-- $name: exit $rc after $(( $(date +%s) - start )) s"
  if [ "$rc" -ne 0 ]; then FAILED+=("$name (exit $rc)"); fi
  return 0
}

# Python packages: snakemake and jsonschema from the carried wheels when the image lacks them.
if ! "$PY" -c "import snakemake, jsonschema" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "gpu.sh: snakemake missing and no .whl/: run benchmarks/gpu_wheels.sh and carry .whl"; exit 1; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$REPO/workflow${PYTHONPATH:+:$PYTHONPATH}

echo "== environment =="
date -u
if [ $CPU_SMOKE -eq 0 ]; then nvidia-smi; fi
"$PY" -c "import torch, snakemake; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available',
torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu', '| snakemake',
snakemake.__version__ if hasattr(snakemake, '__version__') else '?', '| cpus', __import__('os').cpu_count())"

SMOKE_CONFIGS="benchmarks/gpu-smoke.yaml"
if [ $CPU_SMOKE -eq 1 ]; then
  SMOKE_CONFIGS="$SMOKE_CONFIGS benchmarks/cpu-smoke.yaml"
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  DEV=(--device cpu --threads 1)
  SCORE=(--samples 200 --train 1000 --image-size 16 --repeats 1)
  SAMPLE=(--preset demo --width 16 --image-size 8 --batch 16 --steps 3 --rounds 1 --repeats 2)
  TRAIN=(--preset demo --width 16 --image-size 8 --batch 8 --variants plain,fast --rounds 2 --steps 2)
  BUDGET_ARGS=(--preset demo --image-size 8 --widths 16 32 --train-batch 8 --sample-batch 16 --sample-steps 2
               --rounds 1)
  CORES=2
else
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'"
  DEV=(--device cuda)
  SCORE=(--samples 10000 --train 50000 --image-size 32 --repeats 3 --reference-max-pairs 0)
  SAMPLE=(--preset paper --width 128 --batch 256 --fast-batch 512 --steps 20 --rounds 2)
  TRAIN=(--preset paper --width 128 --batch 128 256 --variants plain,fast,bf16-cl --rounds 5 --steps 5)
  BUDGET_ARGS=(--preset paper --widths 64 256 --train-batch 128 --train-steps 3 --sample-batch 256 --sample-steps 10
               --rounds 3 --repeats 3)
  CORES=16
  step pytest-cuda 100 "$PY" -m pytest -q -p no:cacheprovider -k cuda tests/test_noise.py tests/test_precision.py \
    tests/test_score.py tests/test_step.py
fi

step bench_score 120 "$PY" benchmarks/bench_score.py "${SCORE[@]}" "${DEV[@]}" --out "$OUT/bench_score.json"
step bench_sample 120 "$PY" benchmarks/bench_sample.py "${SAMPLE[@]}" "${DEV[@]}" --out "$OUT/bench_sample.json"

smoke_dag() {  # run in `bash -c` under timeout: uses only exported variables
  set -euo pipefail
  # shellcheck disable=SC2086  # SMOKE_CONFIGS is a list of paths without spaces
  "$PY" -m snakemake -s Snakefile -d "$WORK" --configfile $SMOKE_CONFIGS --cores "$CORES" --resources gpu=1 \
    --printshellcmds
  cp "$WORK/results-smoke/capacity/replicates.parquet" "$OUT/smoke_replicates.parquet"
  cat "$WORK/results-smoke/capacity/replicates.md"
  local log
  log=$(find "$WORK/results-smoke/logs/models" -name model.log | head -n 1)
  head -n 2 "$log"
  tail -n 3 "$log"
  tail -n 2 "$(find "$WORK/results-smoke/logs/capacity" -name samples.log | head -n 1)"
}

export PY WORK OUT CORES SMOKE_CONFIGS
step smoke_dag 300 bash -c "$(declare -f smoke_dag); smoke_dag"
# shellcheck disable=SC2086
step bench_dag 60 "$PY" benchmarks/bench_dag.py --workdir "$WORK" --configfile $SMOKE_CONFIGS --repeats 2 \
  --out "$OUT/bench_dag.json"
step bench_train 180 "$PY" benchmarks/bench_train.py "${TRAIN[@]}" "${DEV[@]}" --out "$OUT/bench_train.json"
step bench_budget 150 "$PY" benchmarks/bench_budget.py "${BUDGET_ARGS[@]}" "${DEV[@]}" --out "$OUT/bench_budget.json"
if [ $CPU_SMOKE -eq 0 ]; then  # compiling takes minutes on CPU; on the GPU machine it gets what is left
  step bench_train_compile 400 "$PY" benchmarks/bench_train.py --preset paper --width 128 --batch 128 \
    --variants plain,compile-graphs --rounds 3 --steps 5 "${DEV[@]}" --out "$OUT/bench_train_compile.json"
fi
