"""Subcommands that measure: score (the ratio criterion) and loss-gap (train vs held-out loss per noise level)."""

from __future__ import annotations

from memgen.cli.common import LOG, add_compute_args, add_meta, add_seed_arg, parse_meta, prepare


def cmd_score(args) -> None:
    import pandas as pd

    from memgen import io
    from memgen.errors import MemgenError

    meta = parse_meta(args.meta)
    train, train_labels = io.load_images_npz(args.train, require_labels=False)  # inputs checked before torch loads
    samples, sample_labels = io.load_images_npz(args.samples, require_labels=False)
    if samples.shape[1:] != train.shape[1:]:
        raise MemgenError(f"{args.samples}: samples are {samples.shape[1:]} but {args.train} holds {train.shape[1:]} images")
    if len(train) < 2:
        raise MemgenError(f"{args.train}: holds {len(train)} image; the ratio criterion needs at least 2")
    card = _card(args.card) if args.card else None
    heldout = io.load_images_npz(args.heldout, require_labels=False)[0] if args.heldout else None
    from memgen.analysis.aggregate import summarize_scores
    from memgen.evaluation.assess import assess, copying_summary, heldout_partial_rate, outcome_summary
    from memgen.score import score_samples

    prepare(args)
    scores = score_samples(samples, train, sample_labels, train_labels, threshold=args.threshold, device=args.device)
    if card is not None:
        scores = assess(scores, samples, train, train_labels, card, device=args.device)
    add_meta(scores, meta)
    summary = None
    if args.summary:  # built before anything is written, so a bad --meta leaves no partial output
        summary = summarize_scores(scores, train_labels, by_label=True)
        summary.insert(0, "threshold", args.threshold)
        if card is not None:
            summary = summary.merge(outcome_summary(scores), on="label", how="left")
        if heldout is not None:  # C_T and the tile criterion's rate on held-out images: the base (label 0) row
            base_row = copying_summary(scores, samples, train, train_labels, heldout, card or {})
            base_row |= heldout_partial_rate(heldout, train, train_labels, card or {}, threshold=args.threshold,
                                             device=args.device, n_max=int((scores["label"] == 0).sum()))
            summary = summary.merge(pd.DataFrame([{"label": 0, **base_row}]), on="label", how="left")
        add_meta(summary, meta)
    io.write_parquet(args.out, scores)
    if summary is not None:
        io.write_parquet(args.summary, summary)
    LOG.info(f"wrote {args.out}: {int(scores['is_replicate'].sum())}/{len(scores)} replicates "
             f"(ratio < {args.threshold:.4g})")


def _card(path) -> dict:
    from memgen import io
    from memgen.errors import MemgenError

    card = io.read_json(path)
    if not isinstance(card, dict) or not isinstance(card.get("class_names"), dict):
        raise MemgenError(f"{path}: not a dataset card (a JSON object with class_names expected)")
    return card


def cmd_loss_gap(args) -> None:
    from memgen import io
    from memgen.evaluation.loss_gap import checkpoints_table

    prepare(args)
    train, train_labels = io.load_images_npz(args.train)
    heldout, heldout_labels = io.load_images_npz(args.heldout)
    table = checkpoints_table(args.checkpoints, train, heldout, train_labels, heldout_labels, seed=args.seed,
                              k=args.levels, device=args.device)
    io.write_parquet(args.out, table)
    LOG.info(f"wrote {args.out}")


def cmd_agreement(args) -> None:
    from memgen import io
    from memgen.analysis.dichotomy import agreement_tables
    from memgen.errors import MemgenError
    from memgen.evaluation.agreement import pair_agreement

    lists = (args.samples_a, args.samples_b, args.train_a, args.train_b, args.scores_a, args.scores_b, args.widths,
             args.sizes, args.seeds)
    if len({len(x) for x in lists}) != 1:
        raise MemgenError("agreement: --samples-a/-b, --train-a/-b, --scores-a/-b, --widths, --sizes and --seeds "
                          "need one entry per pair each")
    pairs = []
    for sa, sb, ta, tb, ca, cb, width, size, seed in zip(*lists):
        a, b = (io.load_images_npz(x, require_labels=False)[0] for x in (sa, sb))
        m = min(len(a), len(b))  # sample i of both models starts from the same noise
        table = pair_agreement(a[:m], b[:m], *(io.load_images_npz(x, require_labels=False)[0] for x in (ta, tb)))
        outcome = {f"outcome_{side}": io.read_parquet(path)["outcome"].to_numpy()[:m] for side, path in
                   (("a", ca), ("b", cb))}
        pairs.append(table.assign(width=width, size=size, seed=seed, **outcome))
        LOG.info(f"width {width}, {size} images, seed {seed}: {int(table['is_same'].sum())}/{m} pairs the same "
                 f"image, median similarity {table['similarity'].median():.3f}")
    summary, all_pairs = agreement_tables(pairs)
    io.write_parquet(args.pairs, all_pairs)
    io.write_parquet(args.out, summary)
    LOG.info(f"wrote {args.out}, {args.pairs}")


def register(sub) -> None:
    s = sub.add_parser("score", help="flag samples that replicate a training image (Yoon et al. ratio criterion)")
    s.add_argument("--train", required=True, help="training set .npz (images, labels)")
    s.add_argument("--samples", required=True, help="samples .npz (also improved-diffusion's arr_0/arr_1 layout)")
    s.add_argument("--out", required=True, help="per-sample Parquet table")
    s.add_argument("--threshold", type=float, default=1 / 3, help="replicate iff ||W-X1||/||W-X2|| < R (1/3)")
    s.add_argument("--summary", help="also write a per-class summary Parquet (fractions with Wilson intervals)")
    s.add_argument("--meta", action="append", metavar="KEY=VALUE", help="constant column added to both tables")
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
    add_seed_arg(s, required=False, default=0)
    s.add_argument("--out", required=True, help="Parquet (step, t, alpha_bar, log_snr, split, loss, loss_sem, n)")
    add_compute_args(s)
    s.set_defaults(func=cmd_loss_gap)

    s = sub.add_parser("agreement", help="disjoint-split agreement: pairs of samples of two models from the same noise")
    for name in ("samples-a", "samples-b", "train-a", "train-b", "scores-a", "scores-b"):
        s.add_argument(f"--{name}", nargs="+", required=True, help=f"{name.replace('-', ' ')} .npz, one per pair")
    for name in ("widths", "sizes", "seeds"):
        s.add_argument(f"--{name}", type=int, nargs="+", required=True, help="grid column of each pair")
    s.add_argument("--out", required=True, help="summary per width, size and seed (Parquet)")
    s.add_argument("--pairs", required=True, help="one row per pair of samples (Parquet)")
    s.set_defaults(func=cmd_agreement)
