"""Subcommands that measure: score (the ratio criterion and the four-way outcome) and loss-gap (train vs held-out
loss per noise level). Their heavy imports sit inside the commands: ``python -m memgen --help`` stays light."""

from __future__ import annotations

from memgen.cli.common import LOG, add_compute_args, add_meta, add_seed_arg, parse_meta, prepare
from memgen.config import schema_default


def cmd_score(args) -> None:
    from memgen.jobs import score

    score(args.train, args.samples, args.out, threshold=args.threshold, summary=args.summary, card=args.card,
          heldout=args.heldout, meta=parse_meta(args.meta), sample_set=args.sample_set, device=args.device,
          prepare=lambda: prepare(args))


def cmd_loss_gap(args) -> None:
    from memgen import io
    from memgen.evaluation.loss_gap_checkpoints import checkpoints_tables

    prepare(args)
    train, train_labels = io.load_images_npz(args.train)
    heldout, heldout_labels = io.load_images_npz(args.heldout)
    meta = parse_meta(args.meta)
    tables = checkpoints_tables(args.checkpoints, train, heldout, train_labels, heldout_labels, seed=args.seed,
                                k=args.levels, device=args.device)
    for table, out in zip(tables, (args.out, args.per_image)):
        if out:
            add_meta(table, {k: v for k, v in meta.items() if k not in table.columns})  # the checkpoint's own win
            io.write_parquet(out, table)
            LOG.info(f"wrote {out}")


def register(sub) -> None:
    s = sub.add_parser("score", help="flag samples that replicate a training image (Yoon et al. ratio criterion)")
    s.add_argument("--train", required=True, help="training set .npz (images, labels)")
    s.add_argument("--samples", required=True, help="samples .npz (also improved-diffusion's arr_0/arr_1 layout)")
    s.add_argument("--out", required=True, help="per-sample Parquet table")
    s.add_argument("--threshold", type=float, default=schema_default("score.threshold"),
                   help="replicate iff ||W-X1||/||W-X2|| < R (default: score.threshold of the config schema, 1/3); "
                   "partial copies use the same ratio on pieces")
    s.add_argument("--summary", help="also write a per-class summary Parquet (fractions with Wilson intervals)")
    s.add_argument("--meta", action="append", metavar="KEY=VALUE", help="constant column added to both tables")
    s.add_argument("--sample-set", help="the sample set the samples come from (the pipeline: its path under "
                   "results/, shared by every cell that scores it): the per-sample table's sample_set column")
    s.add_argument("--card", help="the training set's JSON card: adds partial copies, validity and the four-way "
                   "outcome (replicate, partial copy, novel and valid, invalid) per sample and label")
    s.add_argument("--heldout", help="held-out images of the base distribution (.npz): adds, for a real-image base, "
                   "the data-copying statistic C_T (Meehan et al. 2020) with its cell counts and saturation, and "
                   "the share of held-out images the tile partial-copy criterion flags")
    add_compute_args(s)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("loss-gap", help="denoising loss per noise level on training vs held-out images")
    s.add_argument("--checkpoints", nargs="+", required=True, help="checkpoints or snapshots")
    s.add_argument("--train", required=True)
    s.add_argument("--heldout", required=True)
    s.add_argument("--levels", type=int, default=16)
    s.add_argument("--meta", action="append", metavar="KEY=VALUE", help="constant column added to the table (a "
                   "column the checkpoints already give, such as seed, keeps their value)")
    add_seed_arg(s, required=False, default=0)
    s.add_argument("--out", required=True, help="Parquet (step, t, alpha_bar, log_snr, split, loss, loss_sem, n)")
    s.add_argument("--per-image", help="also write each image's loss per level (step, t, split, index, loss): the "
                   "permutation test of the gap swaps train and held-out image i, which saw the same noise")
    add_compute_args(s)
    s.set_defaults(func=cmd_loss_gap)
