"""Subcommands that train and sample: train, sample, sample-optimal, train-classifier, select."""

from __future__ import annotations

from pathlib import Path

from memgen.cli.common import LOG, add_compute_args, add_seed_arg, prepare


def cmd_train(args) -> None:
    from memgen import io
    from memgen.config import load_config
    from memgen.errors import MemgenError

    images, labels = io.load_images_npz(args.data)  # data and card are checked before torch is imported
    config = load_config(args.config, training_only=True)
    card = {}
    if args.card:
        card = io.read_json(args.card)
        if not isinstance(card, dict):
            raise MemgenError(f"{args.card}: not a dataset card (a JSON object expected, got {type(card).__name__})")
    from memgen.train import label_classes, train

    prepare(args)
    conditional = {"auto": None, "yes": True, "no": False}[args.conditional]
    label_classes(labels, conditional, source=args.data)
    if args.snapshots and not args.snapshot_dir:
        raise MemgenError("--snapshots needs --snapshot-dir")
    snapshots = {int(step): Path(args.snapshot_dir) / f"step{int(step):07d}.pt" for step in args.snapshots or []}
    train(config, images, labels, width=args.width, seed=args.seed, out=args.out, loss_log=args.loss_log,
          state=args.state, snapshots=snapshots, conditional=conditional, class_names=card.get("class_names"),
          device=args.device, split_b=card.get("split") == "b")
    if args.snapshot_dir:  # a declared directory output exists even without snapshots; made only after success
        Path(args.snapshot_dir).mkdir(parents=True, exist_ok=True)


def cmd_sample(args) -> None:
    from memgen import checkpoint, io
    from memgen.sample import sample_described

    prepare(args)
    ckpt = checkpoint.load(args.checkpoint)
    images, labels, about = sample_described(ckpt, num_samples=args.num_samples, steps=args.steps, seed=args.seed,
                                             batch_size=args.batch_size, classes=args.classes, device=args.device,
                                             weights=args.weights, precision=args.precision, compile=args.compile)
    io.save_images_npz(args.out, images, labels)
    if args.card:  # after the samples: a card never describes samples that are not there
        io.write_json(args.card, {"checkpoint": str(args.checkpoint), "samples": str(args.out), **about})
    LOG.info(f"wrote {args.out}: {len(images)} samples")


def cmd_sample_optimal(args) -> None:
    from memgen import io
    from memgen.config import load_config
    from memgen.sample import sample_optimal

    prepare(args)
    config = load_config(args.config, training_only=True)
    train, labels = io.load_images_npz(args.train)
    images, out_labels = sample_optimal(train, labels, config.diffusion, num_samples=args.num_samples,
                                        steps=args.steps, seed=args.seed, batch_size=args.batch_size,
                                        classes=args.classes, device=args.device)
    io.save_images_npz(args.out, images, out_labels)
    LOG.info(f"wrote {args.out}: {len(images)} samples of the closed-form empirical-optimal denoiser")


def cmd_train_classifier(args) -> None:
    from memgen.jobs import train_classifier

    train_classifier(args.a, args.b, args.out, args.metrics, name_a=args.name_a, name_b=args.name_b, seed=args.seed,
                     steps=args.steps, device=args.device, prepare=lambda: prepare(args))


def cmd_select(args) -> None:
    from memgen.jobs import select

    select(args.samples, args.classifier, args.out)


def register(sub) -> None:
    s = sub.add_parser("train", help="train one model; resumes from its checkpoint automatically")
    s.add_argument("--config", help="memgen config: YAML/JSON file or inline JSON (defaults fill the rest)")
    s.add_argument("--data", required=True, help="training set .npz")
    s.add_argument("--card", help="the data set's JSON card (class names)")
    s.add_argument("--width", type=int, required=True)
    add_seed_arg(s)
    s.add_argument("--conditional", choices=["auto", "yes", "no"], default="auto",
                   help="auto: class-conditional iff the data has more than one class")
    s.add_argument("--out", required=True, help="final checkpoint (.pt)")
    s.add_argument("--loss-log", required=True, help="loss log (.parquet)")
    s.add_argument("--state", help="resumable checkpoint (default: OUT.state)")
    add_compute_args(s)
    s.add_argument("--snapshots", type=int, nargs="*", help="steps at which to save snapshots (EMA and raw weights)")
    s.add_argument("--snapshot-dir", help="directory of the snapshots (stepNNNNNNN.pt)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint's EMA weights")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--num-samples", type=int, required=True, help="samples (per class for conditional models)")
    s.add_argument("--classes", type=int, nargs="*", help="classes to sample (default: all trained classes)")
    s.add_argument("--steps", type=int, required=True, help="respaced sampling steps")
    add_seed_arg(s)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--weights", choices=["ema", "model"], default="ema", help="EMA (default) or raw weights")
    s.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="the UNet's numerics (auto: bf16 where the device computes it natively and it pays)")
    s.add_argument("--compile", choices=["auto", "off", "default", "reduce-overhead"], default="auto",
                   help="compile the reverse step (auto: on CUDA with a CUDA graph; never on a CPU)")
    s.add_argument("--out", required=True, help=".npz with images and labels")
    s.add_argument("--card", help="JSON beside it: the checkpoint, what was drawn and how, the samples' SHA-256")
    add_compute_args(s)
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("sample-optimal", help="sample the closed-form empirical-optimal denoiser of a training set")
    s.add_argument("--train", required=True, help="training set .npz")
    s.add_argument("--config", help="memgen config (its diffusion section is used)")
    s.add_argument("--num-samples", type=int, required=True)
    s.add_argument("--classes", type=int, nargs="*")
    s.add_argument("--steps", type=int, required=True, help="respaced sampling steps")
    add_seed_arg(s)
    s.add_argument("--batch-size", type=int, default=256)
    s.add_argument("--out", required=True)
    add_compute_args(s)
    s.set_defaults(func=cmd_sample_optimal)

    s = sub.add_parser("train-classifier", help="train the binary base-vs-dummy classifier (Appendix C.1)")
    s.add_argument("--a", required=True, help=".npz of class a (the base kind, e.g. Mondrian)")
    s.add_argument("--b", required=True, help=".npz of class b (the dummy kind, e.g. GM)")
    s.add_argument("--name-a", default="base")
    s.add_argument("--name-b", default="dummy")
    add_seed_arg(s, required=False, default=0)
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--out", required=True, help="classifier state (.pt)")
    s.add_argument("--metrics", required=True, help="validation metrics (.json)")
    add_compute_args(s)
    s.set_defaults(func=cmd_train_classifier)

    s = sub.add_parser("select", help="label samples by a classifier: 0 = class a (base kind), 1 = class b")
    s.add_argument("--classifier", required=True)
    s.add_argument("--samples", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_select)
