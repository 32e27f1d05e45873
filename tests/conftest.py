import os
import sys
import tempfile
from pathlib import Path

import pytest

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
