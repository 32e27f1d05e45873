"""``python -m memgen import-checkpoint --from improved-diffusion CKPT --out model.pt``: a thin shell.

Prints the architecture inferred from the state dict and what was taken from flags, then writes the memgen
checkpoint atomically (nothing is written when the input is refused).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from memgen.cli.common import LOG
from memgen.interop.facts import SOURCES, write_facts
from memgen.model.config import reference_default



def cmd_import_checkpoint(args: argparse.Namespace) -> None:
    from memgen import checkpoint, io
    from memgen.errors import MemgenError
    from memgen.interop.convert import check_finite, import_improved_diffusion

    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise MemgenError(f"--out {args.out}: is the input file; write the memgen checkpoint elsewhere")
    if args.source == "memgen":  # checked (format, weights) and copied, so the DAG owns its input
        ckpt = checkpoint.load(args.checkpoint)
        check_finite(args.checkpoint, {f"{part}.{k}": v for part in ("model", "ema") for k, v in ckpt[part].items()
                                       if v.is_floating_point()})
        io.torch_save(args.out, ckpt)
        LOG.info(f"{args.checkpoint}: memgen checkpoint, width {ckpt['width']}, step {ckpt['step']}; wrote {args.out}")
    else:
        ckpt, lines = import_improved_diffusion(
            args.checkpoint, image_size=args.image_size, num_heads=args.num_heads, norm_groups=args.norm_groups,
            dropout=args.dropout, diffusion_steps=args.diffusion_steps, noise_schedule=args.noise_schedule,
            class_names=args.class_names)
        for line in lines:
            LOG.info(line)
        io.torch_save(args.out, ckpt)
        LOG.info(f"wrote {args.out}")
    if args.facts:
        write_facts(args.checkpoint, args.source, args.facts, {"width": int(ckpt["width"]), "step": int(ckpt["step"]),
                                                               "conditional": ckpt["unet"]["num_classes"] > 0})


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
    s.add_argument("--facts", help="also cache what the study grid reads of CKPT (width, step, conditioning) in this "
                   "JSON file (memgen.interop.facts)")
    s.set_defaults(func=cmd_import_checkpoint)
