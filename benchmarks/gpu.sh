#!/usr/bin/env bash
# One prepared GPU session: the default path end to end, every width's paths, packing, scoring, in one run.
#
#   benchmarks/gpu.sh OUTDIR               on one H100/H200, in one call of at most 8 minutes (budget: GPU_SH_BUDGET
#                                          seconds, default 450, shared out among the steps below)
#   benchmarks/gpu.sh --cpu-smoke OUTDIR   every step at tiny sizes on CPU, a few minutes (tests/test_benchmarks.py):
#                                          the same variants, compiled with torch.compile's "eager" backend (Dynamo
#                                          without Inductor), warm_compile in the foreground
#   GPU_SH_STEPS="bench_pack bench_score" benchmarks/gpu.sh OUTDIR    only the named steps (a rerun of what failed)
#
# Steps, most important first:
#   pytest-cuda    the CUDA tests (noise and sampling graphs, no host sync, fallbacks, exact search under TF32)
#   warm_compile   in the background while e2e runs: compiles every other graph the later steps use (training with
#                  CUDA graphs at UNet-64/-256, the compiled sampling step at UNet-64/128/256), 5 processes at once,
#                  so that later processes find them in Inductor's on-disk cache; writes warm/*.json (cold compile
#                  times under that load; not rates: benchmarks/rates.py reads only OUTDIR/*.json)
#   e2e            benchmarks/e2e_default.py: the smoke DAG of benchmarks/gpu-smoke.yaml (UNet-128, the defaults:
#                  bf16 + compile with CUDA graphs) through Snakemake with --retries 2; training SIGTERMed at step
#                  100 and again 2 s into its resumed run's compile, resumed, sampled (compiled), scored
#   bench_budget   per width 64/128/256: train plain vs bf16 eager vs bf16 + compile with CUDA graphs (batch 128;
#                  UNet-128's row reruns the README's 2.21x / 18% MFU through the script), sampling plain vs bf16
#                  eager vs graphs at the same batch 256
#   bench_pack     4 UNet-64 trainings on the GPU: one at a time, 4 processes, 4 under MPS, 4 in one vmap
#   bench_score    10k samples x 50k images (a GPU number of the README, measured again on this chip)
#   bench_dag      dry run of the paper preset; no-op rerun of the finished smoke DAG
# Every step is checked: a failed or timed-out step does not stop the later ones (device time is scarce), but the
# script exits 1 and its last line names every failed step. OUTDIR gets gpu.log (this whole output), e2e.json,
# bench_{budget,pack,score,dag}.json, warm/*.json, smoke_replicates.parquet and summary.json (the summary table
# printed last, as data). Turn them into the table auto and the planner read with benchmarks/rates.py.
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
# default budget: 450 s on a GPU; 600 s for the CPU smoke, whose warm_compile runs in the foreground on 2 cores
BUDGET=${GPU_SH_BUDGET:-$([ $CPU_SMOKE -eq 1 ] && echo 600 || echo 450)}
ONLY=${GPU_SH_STEPS:-}
T0=$(date +%s)
FAILED=()
WORK=$(mktemp -d /tmp/memgen-smoke.XXXXXX)
WARM_PID=

finish() {
  local rc=$?
  [ ${#FAILED[@]} -eq 0 ] || rc=1
  if [ -n "$WARM_PID" ]; then kill "$WARM_PID" 2>/dev/null || true; fi
  echo
  echo "== summary ($(( $(date +%s) - T0 )) s) =="
  "$PY" benchmarks/benchlib.py summarize "$OUT" "${FAILED[@]}" || echo "(summary failed)"
  if [ "$rc" -ne 0 ] && [ ${#FAILED[@]} -eq 0 ]; then FAILED+=("gpu.sh itself (exit $rc)"); fi
  rm -rf "$WORK"
  if [ ${#FAILED[@]} -gt 0 ]; then echo "gpu.sh: FAILED: ${FAILED[*]}"; rc=1; else echo "gpu.sh: OK, every step passed"; fi
  exec 1>&- 2>&-
  wait "$TEE_PID" || true
  exit "$rc"
}
trap finish EXIT

wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# limit CAP: min(CAP, what is left of the budget - 15 s)
limit() { local left=$(( BUDGET - ($(date +%s) - T0) - 15 )); echo $(( $1 < left ? $1 : left )); }

# step NAME CAP_SECONDS COMMAND...: run under a timeout of `limit CAP`; record failure.
step() {
  local name=$1 cap=$2; shift 2
  wanted "$name" || return 0
  local lim
  lim=$(limit "$cap")
  echo
  echo "== $name (limit ${lim} s, $(( $(date +%s) - T0 )) s elapsed) =="
  if [ "$lim" -lt 10 ]; then echo "no time left for $name"; FAILED+=("$name (no time left)"); return 0; fi
  local start rc=0
  start=$(date +%s)
  timeout --kill-after=10 "$lim" "$@" || rc=$?
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

SMOKE_CONFIGS=(benchmarks/gpu-smoke.yaml)
# The variants are the GPU run's in both modes (bench_train.py's names); the CPU smoke only shrinks the sizes and
# compiles with the "eager" backend (Dynamo without Inductor: the same code path in seconds, not minutes).
TRAIN_VARIANTS=plain,fast,compile-graphs
SAMPLE_VARIANTS=plain,fast,graphs
PACK_VARIANT=compile-graphs
if [ $CPU_SMOKE -eq 1 ]; then
  SMOKE_CONFIGS+=(benchmarks/cpu-smoke.yaml)
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
  DEV=(--device cpu --threads 1)
  COMPILE=(--compile-backend eager)
  E2E=(--cores 2 --stop-at 50 --second-after 1)
  BUDGET_ARGS=(--preset demo --image-size 8 --widths 16 32 --train-batch 8 --sample-batch 16 --sample-steps 2
               --rounds 1)
  PACK=(--preset demo --width 16 --image-size 8 --batch 8 --k 2 --steps 3 --warmup 1)
  SCORE=(--samples 200 --train 1000 --image-size 16 --repeats 1)
  WARM_TRAIN=(--preset demo --image-size 8 --batch 8); WARM_TRAIN_WIDTHS=(16)
  WARM_SAMPLE=(--preset demo --image-size 8 --batch 16 --steps 2); WARM_SAMPLE_WIDTHS=(16)
else
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'"
  DEV=(--device cuda)
  COMPILE=()
  E2E=(--cores 16 --stop-at 100 --second-after 2 --expect-compile)
  BUDGET_ARGS=(--preset paper --widths 64 128 256 --train-batch 128 --train-steps 3 --train-warmup 3
               --sample-batch 256 --sample-steps 10 --rounds 2 --repeats 3)
  PACK=(--preset paper --width 64 --batch 128 --k 4 --steps 30 --warmup 3)
  SCORE=(--samples 10000 --train 50000 --image-size 32 --repeats 2 --reference-max-pairs 0)
  WARM_TRAIN=(--preset paper --batch 128); WARM_TRAIN_WIDTHS=(64 256)
  WARM_SAMPLE=(--preset paper --batch 256 --steps 10); WARM_SAMPLE_WIDTHS=(64 128 256)
  step pytest-cuda 90 "$PY" -m pytest -q -p no:cacheprovider -k cuda tests/test_noise.py tests/test_precision.py \
    tests/test_score.py tests/test_step.py tests/test_train.py tests/test_sample_compiled.py
fi
BUDGET_ARGS+=(--train-variants "$TRAIN_VARIANTS" --sample-variants "$SAMPLE_VARIANTS" "${COMPILE[@]}")
PACK+=(--variant "$PACK_VARIANT" "${COMPILE[@]}")

warm_compile() {  # run in `bash -c` (background on a GPU): uses only exported variables and the WARM_* arrays
  set -uo pipefail
  mkdir -p "$OUT/warm"
  local pids=() rc=0 w
  for w in "${WARM_TRAIN_WIDTHS[@]}"; do
    "$PY" benchmarks/bench_train.py "${WARM_TRAIN[@]}" --width "$w" --variants "$PACK_VARIANT" --rounds 1 \
      --steps 1 --warmup 3 "${DEV[@]}" "${COMPILE[@]}" --out "$OUT/warm/train_w$w.json" \
      > "$OUT/warm/train_w$w.log" 2>&1 &
    pids+=($!)
  done
  for w in "${WARM_SAMPLE_WIDTHS[@]}"; do
    "$PY" benchmarks/bench_sample.py "${WARM_SAMPLE[@]}" --width "$w" --variants graphs --rounds 1 --repeats 1 \
      "${DEV[@]}" "${COMPILE[@]}" --out "$OUT/warm/sample_w$w.json" > "$OUT/warm/sample_w$w.log" 2>&1 &
    pids+=($!)
  done
  for w in "${pids[@]}"; do wait "$w" || rc=1; done
  tail -n 3 "$OUT"/warm/*.log
  return $rc
}
WARM_FN="$(declare -f warm_compile); $(declare -p WARM_TRAIN WARM_TRAIN_WIDTHS WARM_SAMPLE WARM_SAMPLE_WIDTHS DEV COMPILE)"
export PY OUT WORK PACK_VARIANT

if [ $CPU_SMOKE -eq 0 ] && wanted warm_compile; then
  lim=$(limit 300)
  echo
  echo "== warm_compile (background, limit ${lim} s, $(( $(date +%s) - T0 )) s elapsed) =="
  timeout --kill-after=10 "$lim" bash -c "$WARM_FN; warm_compile" &
  WARM_PID=$!
elif [ $CPU_SMOKE -eq 1 ]; then  # its command lines checked at CPU size, in the foreground (e2e's signals are timed)
  step warm_compile 240 bash -c "$WARM_FN; warm_compile"
fi

step e2e 330 "$PY" benchmarks/e2e_default.py --workdir "$WORK/e2e" --configfile "${SMOKE_CONFIGS[@]}" "${E2E[@]}" \
  --timeout 310 --out "$OUT/e2e.json"
if [ -f "$WORK/e2e/results-smoke/capacity/replicates.parquet" ]; then
  cp "$WORK/e2e/results-smoke/capacity/replicates.parquet" "$OUT/smoke_replicates.parquet"
fi

if [ -n "$WARM_PID" ]; then
  rc=0
  wait "$WARM_PID" || rc=$?
  WARM_PID=
  echo "-- warm_compile: exit $rc after $(( $(date +%s) - T0 )) s elapsed"
  if [ "$rc" -ne 0 ]; then FAILED+=("warm_compile (exit $rc)"); fi
fi

step bench_budget 200 "$PY" benchmarks/bench_budget.py "${BUDGET_ARGS[@]}" "${DEV[@]}" --out "$OUT/bench_budget.json"
step bench_pack 150 "$PY" benchmarks/bench_pack.py "${PACK[@]}" "${DEV[@]}" --out "$OUT/bench_pack.json"
step bench_score 60 "$PY" benchmarks/bench_score.py "${SCORE[@]}" "${DEV[@]}" --out "$OUT/bench_score.json"
DAG=(--configfile "${SMOKE_CONFIGS[@]}")  # without the e2e's finished DAG, bench_dag runs its own tiny one first
if [ -d "$WORK/e2e/results-smoke" ]; then DAG+=(--workdir "$WORK/e2e"); else DAG=(); fi
step bench_dag 45 "$PY" benchmarks/bench_dag.py "${DAG[@]}" --repeats 1 --out "$OUT/bench_dag.json"
