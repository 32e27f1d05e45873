"""Bring your own model: import checkpoints of other diffusion code bases as memgen checkpoints.

`improved_diffusion` reads the architecture of an openai/improved-diffusion UNet from its state dict's shapes
(pure: key -> shape in, `Architecture` out); `convert` loads such a file safely and writes the memgen
checkpoint; `facts` reads what the study grid needs of a checkpoint (width, step, conditional); the
``import-checkpoint`` subcommand is in `memgen.cli.interop`.
"""
