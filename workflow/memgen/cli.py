"""`python -m memgen <subcommand>`: the thin shell that every Snakemake rule calls with exact paths.

Every subcommand has ``--help``. Bad input (a `MemgenError`) ends in one line on stderr,
``memgen: error: <what, naming the culprit>``, and exit status 2; outputs are only ever written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _log(msg: str) -> None:
    print(msg, flush=True)


def _set_threads(threads: int | None) -> None:
    import torch

    from memgen.errors import MemgenError

    if threads is not None and threads < 1:
        raise MemgenError(f"--threads {threads}: must be a positive integer")
    if threads:
        torch.set_num_threads(threads)


def _meta(pairs: list[str]) -> dict:
    from memgen.errors import MemgenError

    meta = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MemgenError(f"--meta {pair!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        meta[key] = value
    return meta


def _add_meta(table, meta: dict) -> None:
    """Add each --meta KEY=VALUE as a constant column; a KEY that is already a column is refused, not overwritten."""
    from memgen.errors import MemgenError

    clash = [key for key in meta if key in table.columns]
    if clash:
        raise MemgenError(f"--meta {clash[0]}={meta[clash[0]]}: '{clash[0]}' is already a column of the table")
    for key, value in meta.items():
        table[key] = value


# --- subcommands -------------------------------------------------------------------------------------------


def cmd_params(args) -> None:
    from memgen.model import UNet, UNetConfig, count_parameters

    cfg = UNetConfig(
        image_size=args.image_size, width=args.width, num_res_blocks=args.num_res_blocks,
        channel_mult=tuple(args.channel_mult) if args.channel_mult else None,
        attention_resolutions=tuple(args.attention_resolutions), num_heads=args.num_heads,
        norm_groups=args.norm_groups, learn_sigma=not args.fixed_sigma, num_classes=args.num_classes,
    )
    cfg.validate()
    model = UNet(cfg)
    print(f"UNet width={cfg.width} image_size={cfg.image_size} channel_mult={cfg.resolved_channel_mult} "
          f"num_res_blocks={cfg.num_res_blocks} attention={list(cfg.attention_resolutions)} "
          f"num_classes={cfg.num_classes} learn_sigma={cfg.learn_sigma}")
    print(count_parameters(model))


def cmd_validate_config(args) -> None:
    from memgen.config import load_config

    load_config(args.config)
    print(f"{args.config}: ok")


def cmd_materialize(args) -> None:
    from memgen.data.materialize import build_heldout_set, build_training_set, write_dataset

    args.seed += args.seed_offset
    if args.heldout:
        images, labels, card = build_heldout_set(args.base, args.n, args.seed, args.image_size,
                                                 cifar_root=args.cifar_root)
    else:
        images, labels, card = build_training_set(args.base, args.n, args.seed, args.image_size, args.dummy,
                                                  args.dummy_count, cifar_root=args.cifar_root)
    write_dataset(args.out, args.card, images, labels, card)
    _log(f"wrote {args.out}: {len(images)} images {card['counts']} exact_duplicates={card['exact_duplicates']}")


def cmd_train(args) -> None:
    from memgen import io
    from memgen.config import load_config
    from memgen.errors import MemgenError

    images, labels = io.load_images_npz(args.data)  # data and card are checked before torch is imported
    config = load_config(args.config)
    names = None
    if args.card:
        card = io.read_json(args.card)
        if not isinstance(card, dict):
            raise MemgenError(f"{args.card}: not a dataset card (a JSON object expected, got {type(card).__name__})")
        names = card.get("class_names")
    from memgen.train import label_classes, train

    _set_threads(args.threads)
    conditional = {"auto": None, "yes": True, "no": False}[args.conditional]
    label_classes(labels, conditional, source=args.data)
    if args.snapshots and not args.snapshot_dir:
        raise MemgenError("--snapshots needs --snapshot-dir")
    snapshots = {int(step): Path(args.snapshot_dir) / f"step{int(step):07d}.pt" for step in args.snapshots or []}
    train(config, images, labels, width=args.width, seed=args.seed, out=args.out, loss_log=args.loss_log,
          state=args.state, snapshots=snapshots, conditional=conditional, class_names=names, device=args.device,
          log=_log)
    if args.snapshot_dir:  # a declared directory output exists even without snapshots; made only after success
        Path(args.snapshot_dir).mkdir(parents=True, exist_ok=True)


def cmd_sample(args) -> None:
    from memgen import checkpoint, io
    from memgen.sample import sample

    _set_threads(args.threads)
    ckpt = checkpoint.load(args.checkpoint)
    images, labels = sample(ckpt, num_samples=args.num_samples, steps=args.steps, seed=args.seed,
                            batch_size=args.batch_size, classes=args.classes, device=args.device,
                            weights=args.weights, log=_log)
    io.save_images_npz(args.out, images, labels)
    _log(f"wrote {args.out}: {len(images)} samples")


def cmd_score(args) -> None:
    from memgen import io
    from memgen.errors import MemgenError

    meta = _meta(args.meta)
    train, train_labels = io.load_images_npz(args.train, require_labels=False)  # inputs checked before torch loads
    samples, sample_labels = io.load_images_npz(args.samples, require_labels=False)
    if samples.shape[1:] != train.shape[1:]:
        raise MemgenError(f"{args.samples}: samples are {samples.shape[1:]} but {args.train} holds {train.shape[1:]} images")
    if len(train) < 2:
        raise MemgenError(f"{args.train}: holds {len(train)} image; the ratio criterion needs at least 2")
    from memgen.analysis.aggregate import summarize_scores
    from memgen.score import score_samples

    _set_threads(args.threads)
    scores = score_samples(samples, train, sample_labels, train_labels, threshold=args.threshold, device=args.device)
    _add_meta(scores, meta)
    summary = None
    if args.summary:  # built before anything is written, so a bad --meta leaves no partial output
        summary = summarize_scores(scores, train_labels, by_label=True)
        summary.insert(0, "threshold", args.threshold)
        _add_meta(summary, meta)
    io.write_parquet(args.out, scores)
    if summary is not None:
        io.write_parquet(args.summary, summary)
    _log(f"wrote {args.out}: {int(scores['is_replicate'].sum())}/{len(scores)} replicates "
         f"(ratio < {args.threshold:.4g})")


def cmd_aggregate(args) -> None:
    from memgen.analysis.tables import aggregate_summaries

    table = aggregate_summaries(args.summaries, args.out, markdown=args.markdown)
    _log(f"wrote {args.out}: {len(table)} rows")


# --- parser --------------------------------------------------------------------------------------------------


def add_compute_args(s) -> None:
    """--device and --threads, shared by every command that runs a network."""
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memgen", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("params", help="print the UNet's parameter count (last line)")
    s.add_argument("--width", type=int, required=True, help="num_channels (64, 128, 256 in the paper)")
    s.add_argument("--image-size", type=int, required=True)
    s.add_argument("--num-classes", type=int, default=0, help="label-embedding rows (0 = unconditional)")
    s.add_argument("--num-res-blocks", type=int, default=3)
    s.add_argument("--channel-mult", type=int, nargs="+", help="default: improved-diffusion's for the image size")
    s.add_argument("--attention-resolutions", type=int, nargs="*", default=[16, 8])
    s.add_argument("--num-heads", type=int, default=4)
    s.add_argument("--norm-groups", type=int, default=32)
    s.add_argument("--fixed-sigma", action="store_true", help="3 output channels instead of learn_sigma's 6")
    s.set_defaults(func=cmd_params)

    s = sub.add_parser("validate-config", help="validate a config file against the schema")
    s.add_argument("config", help="YAML or JSON config file")
    s.set_defaults(func=cmd_validate_config)

    from memgen.data.materialize import synthetic_kinds

    GENERATORS = synthetic_kinds()

    s = sub.add_parser("materialize", help="generate a training set to .npz plus a JSON card")
    s.add_argument("--base", required=True,
                   help=f"one of {', '.join(sorted(GENERATORS))}, cifar:<class name> or folder:<directory>")
    s.add_argument("--n", type=int, required=True, help="base images")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--image-size", type=int, required=True)
    s.add_argument("--dummy", default="none", help="none, a synthetic kind, hybrid or heldout")
    s.add_argument("--cifar-root", help="directory holding cifar-10-batches-py (for cifar: bases)")
    s.add_argument("--seed-offset", type=int, default=0, help="added to --seed (fresh draws no training set uses)")
    s.add_argument("--heldout", action="store_true",
                   help="write images of the base distribution disjoint from its training sets instead")
    s.add_argument("--dummy-count", type=int, default=0)
    s.add_argument("--out", required=True, help=".npz with images uint8 [N,H,W,3] and labels int64 [N]")
    s.add_argument("--card", required=True, help="JSON card (counts, labels, sha256)")
    s.set_defaults(func=cmd_materialize)

    s = sub.add_parser("train", help="train one model; resumes from its checkpoint automatically")
    s.add_argument("--config", help="memgen config: YAML/JSON file or inline JSON (defaults fill the rest)")
    s.add_argument("--data", required=True, help="training set .npz")
    s.add_argument("--card", help="the data set's JSON card (class names)")
    s.add_argument("--width", type=int, required=True)
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--conditional", choices=["auto", "yes", "no"], default="auto",
                   help="auto: class-conditional iff the data has more than one class")
    s.add_argument("--out", required=True, help="final checkpoint (.pt)")
    s.add_argument("--loss-log", required=True, help="loss log (.parquet)")
    s.add_argument("--state", help="resumable checkpoint (default: OUT.state)")
    add_compute_args(s)
    s.add_argument("--snapshots", type=int, nargs="*", help="steps at which to save EMA-only snapshots")
    s.add_argument("--snapshot-dir", help="directory of the snapshots (stepNNNNNNN.pt)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint's EMA weights")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--num-samples", type=int, required=True, help="samples (per class for conditional models)")
    s.add_argument("--classes", type=int, nargs="*", help="classes to sample (default: all trained classes)")
    s.add_argument("--steps", type=int, required=True, help="respaced sampling steps")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--weights", choices=["ema", "model"], default="ema", help="EMA (default) or raw weights")
    s.add_argument("--out", required=True, help=".npz with images and labels")
    add_compute_args(s)
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("score", help="flag samples that replicate a training image (Yoon et al. ratio criterion)")
    s.add_argument("--train", required=True, help="training set .npz (images, labels)")
    s.add_argument("--samples", required=True, help="samples .npz (also improved-diffusion's arr_0/arr_1 layout)")
    s.add_argument("--out", required=True, help="per-sample Parquet table")
    s.add_argument("--threshold", type=float, default=1 / 3, help="replicate iff ||W-X1||/||W-X2|| < R (1/3)")
    s.add_argument("--summary", help="also write a per-class summary Parquet (fractions with Wilson intervals)")
    s.add_argument("--meta", action="append", metavar="KEY=VALUE", help="constant column added to both tables")
    s.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    s.add_argument("--threads", type=int, default=None)
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("aggregate", help="concatenate per-cell summaries into one tidy table")
    s.add_argument("--summaries", nargs="+", required=True)
    s.add_argument("--out", required=True, help="Parquet table")
    s.add_argument("--markdown", help="also write the table as Markdown")
    s.set_defaults(func=cmd_aggregate)

    from memgen import commands_studies
    from memgen.analysis import commands

    commands_studies.register(sub)
    commands.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from memgen.errors import MemgenError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MemgenError as err:
        print(f"memgen: error: {err}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("memgen: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a preempted training (already logged) exits 128 + signal, so a retry resumes it
        train = sys.modules.get("memgen.train")  # loaded whenever a training ran; other commands need no torch
        if train is None or not isinstance(err, train.Preempted):
            raise
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
