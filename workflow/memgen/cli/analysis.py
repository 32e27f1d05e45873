"""Subcommands that build tables and figures from scores: aggregate, capacity-estimates, table1, figure, gallery,
criterion-pairs. They read tables and images, call the pure functions of `memgen.analysis`, write atomically."""

from __future__ import annotations

from memgen.cli.common import LOG

FIGURE_KINDS = ["capacity", "dummies", "classes", "dummy_kinds", "onset", "loss_gap", "agreement", "dichotomy"]


def cmd_aggregate(args) -> None:
    from memgen import io
    from memgen.analysis.tables import aggregate_summaries, to_markdown

    table = aggregate_summaries([io.read_parquet(p) for p in args.summaries], source=args.summaries[0])
    io.write_parquet(args.out, table)
    if args.markdown:
        io.write_text(args.markdown, to_markdown(table))
    LOG.info(f"wrote {args.out}: {len(table)} rows")


def cmd_capacity_estimates(args) -> None:
    from memgen import io
    from memgen.analysis.capacity import memorization_capacity

    out = memorization_capacity(io.read_parquet(args.table), level=args.level, n_boot=args.n_boot, seed=args.seed)
    io.write_parquet(args.out, out)
    LOG.info(f"wrote {args.out}")


def cmd_table1(args) -> None:
    from memgen import io
    from memgen.analysis.table1 import table1, table1_rows
    from memgen.config import load_config

    rows = table1_rows(load_config(args.config))
    frame, markdown = table1(rows)
    io.write_parquet(args.out, frame)
    io.write_text(args.markdown, markdown)
    LOG.info(f"wrote {args.out}: {len(rows)} models")


def cmd_figure(args) -> None:
    import pandas as pd

    from memgen import io
    from memgen.analysis import dichotomy, figures, study_figures

    def read(paths):
        table = pd.concat([io.read_parquet(p) for p in paths], ignore_index=True)
        # replicate tables name the training step `steps` (a grid column); figures over training time say `step`
        return table.rename(columns={"steps": "step"}) if "step" not in table and "steps" in table else table

    table = read([args.table])
    reference = read(args.reference) if args.reference else None
    if args.kind == "capacity":
        figures.capacity_figure(table, args.out, optimal=reference)
    elif args.kind == "loss_gap":
        study_figures.loss_gap_figure(table, args.out, replicates=reference)
    elif args.kind == "agreement":
        dichotomy.agreement_figure(table, args.out, replicates=reference)
    elif args.kind == "dichotomy":
        dichotomy.dichotomy_figure(table, args.out)
    else:
        draw = {"dummies": study_figures.dummies_figure, "classes": study_figures.classes_figure,
                "dummy_kinds": study_figures.dummy_kinds_figure, "onset": study_figures.onset_figure}[args.kind]
        draw(table, args.out)
    LOG.info(f"wrote {args.out}")


def cmd_gallery(args) -> None:
    from memgen import io
    from memgen.analysis.galleries import pairs_gallery

    samples, _ = io.load_images_npz(args.samples, require_labels=False)
    train, _ = io.load_images_npz(args.train, require_labels=False)
    drawn = pairs_gallery(samples, train, io.read_parquet(args.scores), args.out, n=args.n, title=args.title)
    io.write_parquet(args.table, drawn)
    LOG.info(f"wrote {args.out}: {len(drawn)} sample / nearest-training-image pairs")


def cmd_criterion_pairs(args) -> None:
    from memgen import io
    from memgen.analysis import galleries
    from memgen.errors import MemgenError

    if not (len(args.samples) == len(args.train) == len(args.scores)):
        raise MemgenError("criterion-pairs: --samples, --train and --scores need one entry per cell each")
    cells = [(io.load_images_npz(s, require_labels=False)[0], io.load_images_npz(t, require_labels=False)[0],
              io.read_parquet(sc)) for s, t, sc in zip(args.samples, args.train, args.scores)]
    samples, train, scores = galleries.pooled_pairs(cells)
    drawn = galleries.criterion_pairs(samples, train, scores, args.out, threshold=args.threshold, n=args.n)
    io.write_parquet(args.table, drawn)
    sweep = galleries.threshold_sweep(galleries.with_group(scores), args.thresholds)
    io.write_parquet(args.sweep, sweep)
    galleries.threshold_sweep_figure(sweep, args.sweep_figure, threshold=args.threshold)
    LOG.info(f"wrote {args.out}, {args.sweep_figure}")


def cmd_dichotomy(args) -> None:
    from memgen import io
    from memgen.analysis.dichotomy import dichotomy_table, summary_line

    tables = [io.read_parquet(p) for p in args.tables]
    agreement = [t for t in tables if "frac_same" in t.columns]
    replicates = [t for t in tables if "memorized_fraction" in t.columns]
    table = dichotomy_table(replicates, agreement[0] if agreement else None)
    io.write_parquet(args.out, table)
    LOG.info(f"wrote {args.out}: {summary_line(table)}")


def register(sub) -> None:
    s = sub.add_parser("aggregate", help="concatenate per-cell summaries into one tidy table (+ Markdown)")
    s.add_argument("--summaries", nargs="+", required=True)
    s.add_argument("--out", required=True, help="Parquet table")
    s.add_argument("--markdown", help="also write the table as Markdown")
    s.set_defaults(func=cmd_aggregate)

    s = sub.add_parser("capacity-estimates", help="largest train size with replicate fraction >= level, per width")
    s.add_argument("--table", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--level", type=float, default=0.9)
    s.add_argument("--n-boot", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_capacity_estimates)

    s = sub.add_parser("table1", help="the hyperparameters of the selected studies with measured parameter counts")
    for name in ("config", "out", "markdown"):
        s.add_argument(f"--{name}", required=True)
    s.set_defaults(func=cmd_table1)

    s = sub.add_parser("figure", help="draw a figure from its table")
    s.add_argument("kind", choices=FIGURE_KINDS)
    s.add_argument("--table", required=True)
    s.add_argument("--reference", nargs="*", help="capacity: optimal-denoiser summaries; loss_gap: onset table")
    s.add_argument("--out", required=True, help="PNG")
    s.set_defaults(func=cmd_figure)

    s = sub.add_parser("gallery", help="samples beside their nearest training images (Figures 3, 4, 6, 8, 9)")
    for name in ("samples", "train", "scores", "out", "table"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--n", type=int, default=32)
    s.add_argument("--title")
    s.set_defaults(func=cmd_gallery)

    s = sub.add_parser("criterion-pairs", help="flagged / not-flagged pairs and a threshold sweep (Appendix D)")
    for name in ("samples", "train", "scores"):
        s.add_argument(f"--{name}", nargs="+", required=True)
    for name in ("out", "table", "sweep", "sweep-figure"):
        s.add_argument(f"--{name}", required=True)
    s.add_argument("--threshold", type=float, default=1 / 3)
    s.add_argument("--thresholds", type=float, nargs="+", default=[0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5, 0.6])
    s.add_argument("--n", type=int, default=16)
    s.set_defaults(func=cmd_criterion_pairs)

    s = sub.add_parser("dichotomy", help="memorized vs generalizing fraction of every scored cell, with regions")
    s.add_argument("--tables", nargs="+", required=True, help="replicate tables (four-way) and agreement tables")
    s.add_argument("--out", required=True, help="Parquet table")
    s.set_defaults(func=cmd_dichotomy)
