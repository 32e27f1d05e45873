"""``python -m memgen import-checkpoint --from improved-diffusion CKPT --out model.pt``: a thin shell.

Prints the architecture inferred from the state dict and what was taken from flags, then writes the memgen
checkpoint atomically (nothing is written when the input is refused).
"""

from __future__ import annotations

import argparse

from memgen.interop.facts import SOURCES
from memgen.model.config import reference_default


def cmd_import_checkpoint(args: argparse.Namespace) -> None:
    from memgen.jobs import import_checkpoint

    flags = {} if args.source == "memgen" else dict(
        image_size=args.image_size, num_heads=args.num_heads, norm_groups=args.norm_groups, dropout=args.dropout,
        diffusion_steps=args.diffusion_steps, noise_schedule=args.noise_schedule, class_names=args.class_names)
    import_checkpoint(args.checkpoint, args.out, source=args.source, raw=args.raw, facts=args.facts, **flags)


def register(sub) -> None:
    """Add the ``import-checkpoint`` subcommand."""
    s = sub.add_parser(
        "import-checkpoint", help="convert an openai/improved-diffusion model*.pt / ema_*.pt into a memgen checkpoint",
        description="The architecture is read from the state dict's shapes; the flags give what shapes cannot "
                    "tell (defaults: the reference's model_and_diffusion_defaults).")
    s.add_argument("--from", dest="source", required=True, choices=SOURCES,
                   help="the code base that wrote CKPT (memgen: checked and copied)")
    s.add_argument("checkpoint", metavar="CKPT", help="a bare state dict (torch.save(model.state_dict()))")
    s.add_argument("--out", required=True, help="memgen checkpoint to write (.pt)")
    s.add_argument("--image-size", type=int, default=None,
                   help="default: the reference's size for the inferred channel_mult (32, 64 or 256)")
    s.add_argument("--num-heads", type=int, default=reference_default("num_heads"),
                   help="attention heads (not in the shapes; default: the reference's)")
    s.add_argument("--norm-groups", type=int, default=reference_default("norm_groups"),
                   help="GroupNorm groups (default: the reference's)")
    s.add_argument("--dropout", type=float, default=0.0, help="reference default 0.0 (CIFAR-10: 0.3); unused "
                                                                "when sampling")
    s.add_argument("--diffusion-steps", type=int, default=1000, help="T (reference default 1000; paper: 4000)")
    s.add_argument("--noise-schedule", choices=["linear", "cosine"], default="linear",
                   help="reference default linear (paper's CIFAR-10: cosine)")
    s.add_argument("--class-names", nargs="+", metavar="NAME",
                   help="names of the trained labels 0..K-1 (the reference numbers classes in sorted name order); "
                        "sampling draws only these")
    s.add_argument("--raw", help="the same run's raw weights at the same step (improved-diffusion's model{step}.pt "
                   "beside CKPT = ema_{rate}_{step}.pt): the checkpoint's raw weights (default: CKPT's weights are "
                   "both its EMA and its raw weights)")
    s.add_argument("--facts", help="also cache what the study grid reads of CKPT (width, step, conditioning) in this "
                   "JSON file (memgen.interop.facts)")
    s.set_defaults(func=cmd_import_checkpoint)
