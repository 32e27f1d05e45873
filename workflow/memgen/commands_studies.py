"""CLI shells of the follow-up studies: sample the closed-form optimal denoiser, the base-vs-dummy classifier and
its selection of samples, and the train vs held-out loss gap.

Registered by `memgen.cli` as ``sample-optimal``, ``train-classifier``, ``select`` and ``loss-gap``.
"""

from __future__ import annotations

from memgen.cli import _log, _set_threads


def cmd_sample_optimal(args) -> None:
    from memgen import io
    from memgen.config import load_config
    from memgen.optimal_sample import sample_optimal

    _set_threads(args.threads)
    config = load_config(args.config)
    train, labels = io.load_images_npz(args.train)
    images, out_labels = sample_optimal(train, labels, config, num_samples=args.num_samples, steps=args.steps,
                                        seed=args.seed, batch_size=args.batch_size, classes=args.classes,
                                        device=args.device, log=_log)
    io.save_images_npz(args.out, images, out_labels)
    _log(f"wrote {args.out}: {len(images)} samples of the closed-form empirical-optimal denoiser")


def cmd_train_classifier(args) -> None:
    from memgen import io
    from memgen.classifier import train_classifier

    _set_threads(args.threads)
    a, _ = io.load_images_npz(args.a, require_labels=False)
    b, _ = io.load_images_npz(args.b, require_labels=False)
    state, metrics = train_classifier(a, b, seed=args.seed, steps=args.steps, class_names=(args.name_a, args.name_b))
    io.torch_save(args.out, state)
    io.write_json(args.metrics, metrics)
    _log(f"wrote {args.out}: validation accuracy {metrics['val_accuracy']:.4f}")


def cmd_select(args) -> None:
    """Label every sample by the classifier (0 = class a, the base kind; 1 = class b), Appendix C.1."""
    import numpy as np

    from memgen import io
    from memgen.classifier import classify

    state = _load_torch(args.classifier)
    images, _ = io.load_images_npz(args.samples, require_labels=False)
    labels = np.where(classify(state, images) >= 0.5, 0, 1).astype(np.int64)
    io.save_images_npz(args.out, images, labels)
    _log(f"wrote {args.out}: {int((labels == 0).sum())}/{len(images)} samples classified as "
         f"{state['config']['class_names'][0]} (label 0), the rest label 1")


def _load_torch(path):
    import torch

    from memgen.errors import MemgenError

    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise MemgenError(f"{path}: not a readable torch file ({type(err).__name__})") from None


def cmd_loss_gap(args) -> None:
    import pandas as pd

    from memgen import checkpoint, io
    from memgen.loss_gap import loss_gap_table

    _set_threads(args.threads)
    train, train_labels = io.load_images_npz(args.train)
    heldout, heldout_labels = io.load_images_npz(args.heldout)
    tables = []
    for path in args.checkpoints:
        ckpt = checkpoint.load(path)
        cond = ckpt["num_classes"] > 0
        table = loss_gap_table(ckpt, train, heldout, seed=args.seed, k=args.levels,
                               labels_train=train_labels if cond else None,
                               labels_heldout=heldout_labels if cond else None, device=args.device)
        # Exposure at this snapshot: passes over each training image and draws of training images so far.
        batch = int(ckpt["config"]["train"]["batch_size"])
        table.insert(1, "batch_size", batch)
        table.insert(2, "epochs_per_image", ckpt["step"] * batch / len(train))
        table.insert(3, "base_image_presentations", ckpt["step"] * batch)
        tables.append(table)
        _log(f"{path}: step {ckpt['step']} evaluated at {args.levels} noise levels")
    io.write_parquet(args.out, pd.concat(tables, ignore_index=True))
    _log(f"wrote {args.out}")


def register(sub) -> None:
    """Add the study subcommands to the ``memgen`` subparsers ``sub``."""
    from memgen.cli import add_compute_args

    s = sub.add_parser("sample-optimal", help="sample the closed-form empirical-optimal denoiser of a training set")
    s.add_argument("--train", required=True, help="training set .npz")
    s.add_argument("--config", help="memgen config (its diffusion section is used)")
    s.add_argument("--num-samples", type=int, required=True)
    s.add_argument("--classes", type=int, nargs="*")
    s.add_argument("--steps", type=int, required=True, help="respaced sampling steps")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--out", required=True)
    add_compute_args(s)
    s.set_defaults(func=cmd_sample_optimal)

    s = sub.add_parser("train-classifier", help="train the binary base-vs-dummy classifier (Appendix C.1)")
    s.add_argument("--a", required=True, help=".npz of class a (the base kind, e.g. Mondrian)")
    s.add_argument("--b", required=True, help=".npz of class b (the dummy kind, e.g. GM)")
    s.add_argument("--name-a", default="base")
    s.add_argument("--name-b", default="dummy")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--out", required=True, help="classifier state (.pt)")
    s.add_argument("--metrics", required=True, help="validation metrics (.json)")
    s.add_argument("--threads", type=int, default=None)
    s.set_defaults(func=cmd_train_classifier)

    s = sub.add_parser("select", help="label samples by a classifier: 0 = class a (base kind), 1 = class b")
    s.add_argument("--classifier", required=True)
    s.add_argument("--samples", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_select)

    s = sub.add_parser("loss-gap", help="denoising loss per noise level on training vs held-out images")
    s.add_argument("--checkpoints", nargs="+", required=True, help="checkpoints or snapshots")
    s.add_argument("--train", required=True)
    s.add_argument("--heldout", required=True)
    s.add_argument("--levels", type=int, default=16)
    s.add_argument("--seed", type=int, default=0, help="seed of the common noise draws")
    s.add_argument("--out", required=True, help="Parquet (step, t, alpha_bar, log_snr, split, loss, loss_sem, n)")
    add_compute_args(s)
    s.set_defaults(func=cmd_loss_gap)
