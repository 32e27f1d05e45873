"""CLI shells of the analysis: read tables and images, call the pure functions, write Parquet + PNG atomically.

Registered by `memgen.cli` as ``figure``, ``gallery``, ``criterion-pairs``, ``table1`` and ``capacity-estimates``.
pandas is imported inside the commands, so `python -m memgen --help` stays fast.
"""

from __future__ import annotations

import numpy as np

from memgen import io
from memgen.errors import MemgenError


def _concat(paths) -> pd.DataFrame:
    import pandas as pd

    return pd.concat([io.read_parquet(p) for p in paths], ignore_index=True)


def _step_column(table: pd.DataFrame) -> pd.DataFrame:
    """Replicate tables name the training step `steps` (a grid column); figures over training time say `step`."""
    if "step" not in table.columns and "steps" in table.columns:
        table = table.rename(columns={"steps": "step"})
    return table


def cmd_figure(args) -> None:
    from memgen.analysis import figures

    table = _step_column(io.read_parquet(args.table))
    reference = _step_column(_concat(args.reference)) if args.reference else None
    if args.kind == "capacity":
        figures.capacity_figure(table, args.out, optimal=reference)
    elif args.kind == "loss_gap":
        figures.loss_gap_figure(table, args.out, replicates=reference)
    else:
        {"dummies": figures.dummies_figure, "classes": figures.classes_figure,
         "dummy_kinds": figures.dummy_kinds_figure, "onset": figures.onset_figure}[args.kind](table, args.out)
    print(f"wrote {args.out}")


def cmd_gallery(args) -> None:
    from memgen.analysis.galleries import pairs_gallery

    samples, _ = io.load_images_npz(args.samples, require_labels=False)
    train, _ = io.load_images_npz(args.train, require_labels=False)
    scores = io.read_parquet(args.scores)
    drawn = pairs_gallery(samples, train, scores, args.out, n=args.n, title=args.title)
    io.write_parquet(args.table, drawn)
    print(f"wrote {args.out}: {len(drawn)} sample / nearest-training-image pairs")


def pooled_pairs(triples) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Concatenate several cells' (samples, train, scores) into one set whose indices stay consistent."""
    import pandas as pd

    samples, trains, scores, s_off, t_off = [], [], [], 0, 0
    for sample_path, train_path, score_path in triples:
        x, _ = io.load_images_npz(sample_path, require_labels=False)
        t, _ = io.load_images_npz(train_path, require_labels=False)
        sc = io.read_parquet(score_path).copy()
        sc["cell_sample_index"] = sc["sample_index"]
        sc["sample_index"] += s_off
        sc["nn1_index"] += t_off
        sc["nn2_index"] += t_off
        samples.append(x), trains.append(t), scores.append(sc)
        s_off, t_off = s_off + len(x), t_off + len(t)
    shapes = {a.shape[1:] for a in samples + trains}
    if len(shapes) != 1:
        raise MemgenError(f"criterion-pairs: cells have different image shapes {sorted(shapes)}")
    return np.concatenate(samples), np.concatenate(trains), pd.concat(scores, ignore_index=True)


def cmd_criterion_pairs(args) -> None:
    from memgen.analysis.galleries import criterion_pairs, threshold_sweep, threshold_sweep_figure

    if not (len(args.samples) == len(args.train) == len(args.scores)):
        raise MemgenError("criterion-pairs: --samples, --train and --scores need one entry per cell each")
    samples, train, scores = pooled_pairs(zip(args.samples, args.train, args.scores))
    drawn = criterion_pairs(samples, train, scores, args.out, threshold=args.threshold, n=args.n)
    io.write_parquet(args.table, drawn)
    group_cols = [c for c in ("width", "size") if c in scores.columns]
    if group_cols:
        scores = scores.assign(group=scores[group_cols].astype(str).agg(lambda r: " ".join(
            f"{k}={v}" for k, v in zip(group_cols, r)), axis=1))
    sweep = threshold_sweep(scores, args.thresholds)
    io.write_parquet(args.sweep, sweep)
    threshold_sweep_figure(sweep, args.sweep_figure, threshold=args.threshold)
    print(f"wrote {args.out}, {args.sweep_figure}")


def cmd_table1(args) -> None:
    from memgen.analysis.table1 import table1
    from memgen.config import load_config, unet_config
    from memgen.grid import cells, enabled_trained_experiments
    from memgen.model import UNet, count_parameters

    config = load_config(args.config)
    rows, seen = [], set()
    for exp in enabled_trained_experiments(config):
        for c in cells(config, exp):
            classes = 2 if c.conditional else 0
            key = (c.width, classes, c.budget, c.batch_size)
            if key in seen:
                continue
            seen.add(key)
            model = UNet(unet_config(config, c.width, num_classes=classes))
            tag = f"UNet-{c.width}" + (" cond" if classes else "") + f" {c.budget} steps x {c.batch_size}"
            rows.append({"model": tag, "num_channels": c.width, "num_res_blocks": config["model"]["num_res_blocks"],
                         "learn_sigma": config["model"]["learn_sigma"], "dropout": config["model"]["dropout"],
                         "diffusion_steps": config["diffusion"]["steps"],
                         "noise_scheduler": config["diffusion"]["schedule"], "optimizer": "AdamW",
                         "lr": config["train"]["lr"], "batch_size": c.batch_size, "train_steps": c.budget,
                         "ema_rate": config["train"]["ema_rate"], "parameters": count_parameters(model)})
    frame, markdown = table1(rows)
    io.write_parquet(args.out, frame)
    io.write_text(args.markdown, markdown)
    print(f"wrote {args.out}: {len(rows)} models")


def cmd_capacity_estimates(args) -> None:
    from memgen.analysis.capacity import memorization_capacity

    table = io.read_parquet(args.table)
    out = memorization_capacity(table, level=args.level, n_boot=args.n_boot, seed=args.seed)
    io.write_parquet(args.out, out)
    print(f"wrote {args.out}")


def register(sub) -> None:
    """Add the analysis subcommands to the CLI's subparsers."""
    s = sub.add_parser("figure", help="draw a figure from its table")
    s.add_argument("kind", choices=["capacity", "dummies", "classes", "dummy_kinds", "onset", "loss_gap"])
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

    s = sub.add_parser("table1", help="the hyperparameters used, with measured parameter counts")
    s.add_argument("--config", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--markdown", required=True)
    s.set_defaults(func=cmd_table1)

    s = sub.add_parser("capacity-estimates", help="largest train size with replicate fraction >= level, per width")
    s.add_argument("--table", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--level", type=float, default=0.9)
    s.add_argument("--n-boot", type=int, default=1000)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_capacity_estimates)
