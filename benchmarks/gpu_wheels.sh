#!/usr/bin/env bash
# Download, on this (networked) machine, every wheel that memgen and snakemake 9.27.1 need on the GPU machine and
# that its image lacks, into .whl/ (git-ignored) for CPython 3.12 manylinux x86_64. benchmarks/gpu.sh installs
# them there with: pip install --no-index --no-deps --target /tmp/site .whl/*.whl
#
# The list: the dependency closure of snakemake==9.27.1 and jsonschema (memgen.config imports it) in this
# project's venv, minus the packages /work/.library/device/KINDS.md lists in the device image (2026-11-17);
# versions are those of envs/constraints.txt. Usage: benchmarks/gpu_wheels.sh   (then carry .whl to the device)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
DEST=.whl
WHEELS=(
  snakemake==9.27.1
  snakemake-interface-common==1.23.0 snakemake-interface-executor-plugins==9.4.0
  snakemake-interface-logger-plugins==2.1.0 snakemake-interface-report-plugins==1.3.0
  snakemake-interface-scheduler-plugins==2.0.2 snakemake-interface-storage-plugins==4.4.1
  annotated-types==0.8.0 argparse-dataclass==2.0.0 conda-inject==1.3.2 ConfigArgParse==1.9.0
  docutils==0.22.4 dpath==2.2.0 fastjsonschema==2.22.3 gitdb==4.0.12 GitPython==3.2.1
  greenlet==3.5.6 humanfriendly==10.0 immutables==0.21 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
  jupyter_core==5.9.1 nbformat==5.11.1 platformdirs==4.14.7 PuLP==3.3.2 pydantic==2.14.3 pydantic_core==2.50.4
  referencing==0.37.0 rpds-py==2026.9.1 smart-open==7.7.1 smmap==5.0.3 SQLAlchemy==2.0.58 sqlmodel==0.0.37
  tenacity==9.2.1 throttler==1.2.3 traitlets==5.16.1 typing-inspection==0.4.5 yte==1.9.4
)
SDIST_ONLY=(connection_pool==0.0.3)  # published as a source archive only: built here (pure Python, py3-none-any)
PLATFORMS=()
for n in 28 27 17; do PLATFORMS+=(--platform "manylinux_2_${n}_x86_64"); done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux1_x86_64)

mkdir -p "$DEST"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$DEST" "${WHEELS[@]}"
"$PYTHON" -m pip wheel -q --no-deps --no-binary=:all: -w "$DEST" "${SDIST_ONLY[@]}"
expected=$(( ${#WHEELS[@]} + ${#SDIST_ONLY[@]} ))
count=$(ls "$DEST"/*.whl | wc -l)
if [ "$count" -ne "$expected" ]; then
  echo "gpu_wheels.sh: $count wheels in $DEST, expected $expected (stale or duplicate versions? rm -r $DEST)" >&2
  exit 1
fi
echo "gpu_wheels.sh: $count wheels, $(du -sh "$DEST" | cut -f1) in $DEST"
