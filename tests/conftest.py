import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
# Tests share 2 cores with whatever else runs: keep torch to one thread and deterministic.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# A compiled TrainStep uses memgen's shared compile cache (memgen.compile_cache): in tests, one under the temp dir,
# not the user's ~/.cache.
os.environ.setdefault("MEMGEN_COMPILE_CACHE", os.path.join(tempfile.gettempdir(), f"memgen-test-compile-{os.getuid()}"))


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    import torch

    torch.set_num_threads(1)
    yield


@pytest.fixture
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """(repo root, workdir, `snakemake --lint`'s result) of the tiny config `tiny.TINY` run to the end once per
    session (tests/test_pipeline.py, tests/test_report.py); tests run only dry runs there, or copy it."""
    from tiny import TINY, snakemake

    workdir = tmp_path_factory.mktemp("dag")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    lint = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                           "--configfile", str(workdir / "tiny.yaml"), "--lint"], capture_output=True, text=True)
    proc = snakemake(ROOT, workdir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return ROOT, workdir, lint
