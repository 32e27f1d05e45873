#!/usr/bin/env bash
# The whole test suite as CI runs it, timed: a fresh clone of this repository's HEAD, then `CI=true bash .ci/run`
# (the venv installed from envs/, SLURM required). Writes what it saw to OUT (default
# benchmarks/results/suite-<date>.txt): commit, CPU, cores, start, wall seconds, exit status, pytest's last line
# and its skip reasons.
#
#   bash benchmarks/suite_time.sh [OUT]
set -euo pipefail
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
out=${1:-$repo/benchmarks/results/suite-$(date +%F).txt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/clone"
commit=$(git -C "$work/clone" rev-parse --short HEAD)
started=$(date -Iseconds)
t0=$(date +%s)
rc=0
(cd "$work/clone" && CI=true bash .ci/run) > "$work/log" 2>&1 || rc=$?
wall=$(( $(date +%s) - t0 ))
summary=$(grep -E '^=+ .*[0-9]+ (passed|failed).* in [0-9.]+s' "$work/log" | tail -1 | sed -E 's/^=+ //; s/ =+$//')
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
mkdir -p "$(dirname "$out")"
printf 'commit: %s\ncpu: %s\ncores: %s\nstarted: %s\nwall_seconds: %s\nexit: %s\npytest: %s\n' \
    "$commit" "$cpu" "$(nproc)" "$started" "$wall" "$rc" "${summary:-no summary line}" > "$out.tmp"
grep -E '^SKIPPED ' "$work/log" | sed 's/^/skipped: /' >> "$out.tmp" || true
mv "$out.tmp" "$out"
cat "$out"
[ "$rc" -eq 0 ] || { tail -40 "$work/log" >&2; exit "$rc"; }
