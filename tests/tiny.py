"""The tiny configs of the tests: 8x8 images, a width-16 UNet of two levels, 100 diffusion steps.

A config needs only what differs from the schema defaults; `studies` says what runs.
"""

import copy

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
