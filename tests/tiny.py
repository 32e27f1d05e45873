"""The tiny configs of the tests: 8x8 images, a width-16 UNet of two levels, 100 diffusion steps.

A config needs only what differs from the schema defaults; `studies` says what runs. `TINY` is the config of the
finished run that several test files share (conftest.py's ``finished_run``), `snakemake` runs the workflow.
"""

import copy
import subprocess
import sys

TINY_MODEL = {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8}


def tiny(steps: int, checkpoint_every: int, log_every: int, dropout: float = 0.0, **blocks) -> dict:
    """A capacity-only config at toy size; ``blocks`` replace or add top-level keys (study blocks, sample, ...)."""
    config = {
        "studies": ["capacity"],
        "image_size": 8,
        "model": {**TINY_MODEL, **({"dropout": dropout} if dropout else {})},
        "diffusion": {"steps": 100},
        "train": {"steps": steps, "batch_size": 8, "checkpoint_every": checkpoint_every, "log_every": log_every},
        "sample": {"steps": 10},
        "capacity": {"widths": [16]},
    }
    config.update(copy.deepcopy(blocks))
    return config


# The shared finished run: the capacity study, width 16, sizes 2 and 6, one seed, 40 steps, 24 samples per cell.
TINY = tiny(40, 20, 10, results="results", seeds=[0], sample={"num_samples": 24, "batch_size": 12, "steps": 10},
            capacity={"widths": [16], "sizes": [2, 6]})


def snakemake(repo_root, workdir, *args, configfile: str = "tiny.yaml", timeout: float = 600):
    """``snakemake --cores 2`` on the repository's Snakefile in ``workdir`` with ``workdir/configfile``."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / configfile), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
