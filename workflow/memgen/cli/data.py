"""Subcommands about configs, models' sizes and data sets: config, validate-config, params, materialize."""

from __future__ import annotations

from pathlib import Path

from memgen.cli.common import LOG
from memgen.model.config import reference_default


def cmd_config(args) -> None:
    import json

    from memgen.config import explain, load_config

    if args.explain:
        print(explain(args.explain))
    else:
        print(json.dumps(load_config(args.file).to_dict(), indent=2))


def cmd_validate_config(args) -> None:
    from memgen.config import load_config
    from memgen.studies import Grid

    Grid(load_config(args.config)).all_targets()  # the grid of every selected study builds too
    print(f"{args.config}: ok")


def cmd_plan(args) -> None:
    from memgen import io, rates
    from memgen.config import load_config, merge_configs, read_config_source
    from memgen.studies import Grid
    from memgen.studies.plan import plan_table

    shipped = [Path("config.yaml")] if Path("config.yaml").is_file() else []  # the Snakefile's configfile
    raw = merge_configs(*(read_config_source(f) for f in [*shipped, *args.configfile]))
    if args.seeds is not None:
        raw["seeds"] = args.seeds
    if args.slots_per_gpu is not None:
        raw.setdefault("resources", {}).setdefault("train", {})["slots_per_gpu"] = args.slots_per_gpu
    config = load_config(raw)
    table = plan_table(Grid(config))
    with_hours = table.assign(compute_hours=table["compute_hours"].round(2), gpu_hours=table["gpu_hours"].round(1),
                              limit_hours=table["limit_hours"].round(1))
    text = "\n".join([
        f"seeds {list(config.seeds)}, training jobs per GPU {config.resources.train.slots_per_gpu}",
        with_hours.to_string(index=False),
        "hours are estimates of memgen.cost: CPU rates measured on this project's CPU; GPU rates measured on "
        f"one {rates.load_table()['plan_chip']} ({rates.TABLE_PATH.name}); time limits = 2 x (estimate + start-up), "
        "output_gb = checkpoints, samples, scores"])
    print(text)
    if args.out:
        io.write_text(args.out, text + "\n")


def cmd_params(args) -> None:
    from memgen.model import UNet, UNetConfig, count_parameters

    cfg = UNetConfig(
        image_size=args.image_size, width=args.width, num_res_blocks=args.num_res_blocks,
        channel_mult=tuple(args.channel_mult) if args.channel_mult else None,
        attention_resolutions=tuple(args.attention_resolutions), num_heads=args.num_heads,
        norm_groups=args.norm_groups, learn_sigma=not args.fixed_sigma, num_classes=args.num_classes,
    ).validate()
    print(f"UNet width={cfg.width} image_size={cfg.image_size} channel_mult={cfg.resolved_channel_mult} "
          f"num_res_blocks={cfg.num_res_blocks} attention={list(cfg.attention_resolutions)} "
          f"num_classes={cfg.num_classes} learn_sigma={cfg.learn_sigma}")
    print(count_parameters(UNet(cfg)))


def cmd_materialize(args) -> None:
    from memgen.jobs import materialize

    materialize(args.out, args.card, base=args.base, n=args.n, seed=args.seed, image_size=args.image_size,
                cifar_root=args.cifar_root, heldout=args.heldout, dummy=args.dummy, ndummy=args.ndummy,
                seed_offset=args.seed_offset)


def register(sub) -> None:
    s = sub.add_parser("config", help="explain a config key, or print a resolved config (defaults filled)")
    s.add_argument("file", nargs="?", help="YAML or JSON config (default: the schema defaults)")
    s.add_argument("--explain", metavar="KEY", help="a dotted key, e.g. train.ema_rate or score.threshold")
    s.add_argument("--show", action="store_true", help="print the resolved config as JSON (the default action)")
    s.set_defaults(func=cmd_config)

    s = sub.add_parser("validate-config", help="validate a config file against the schema")
    s.add_argument("config", help="YAML or JSON config file")
    s.set_defaults(func=cmd_validate_config)

    s = sub.add_parser("plan", help="jobs, compute and GPU-hours, time limits and disk per study, before you submit")
    s.add_argument("--configfile", nargs="+", default=[], metavar="FILE",
                   help="YAML or JSON config files, layered in order on top of ./config.yaml where it exists, as "
                   "Snakemake layers them (without either: the schema's defaults, which select no study)")
    s.add_argument("--seeds", type=int, nargs="+", help="replace the config's seeds (e.g. --seeds 0 1 2)")
    s.add_argument("--slots-per-gpu", type=int, help="replace resources.train.slots_per_gpu")
    s.add_argument("--out", help="also write the printed plan to this file")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("params", help="print the UNet's parameter count (last line)")
    s.add_argument("--width", type=int, required=True, help="num_channels (64, 128, 256 in the paper)")
    s.add_argument("--image-size", type=int, required=True)
    s.add_argument("--num-classes", type=int, default=0, help="label-embedding rows (0 = unconditional)")
    s.add_argument("--num-res-blocks", type=int, default=reference_default("num_res_blocks"))
    s.add_argument("--channel-mult", type=int, nargs="+", help="default: improved-diffusion's for the image size")
    s.add_argument("--attention-resolutions", type=int, nargs="*",
                   default=list(reference_default("attention_resolutions")))
    s.add_argument("--num-heads", type=int, default=reference_default("num_heads"))
    s.add_argument("--norm-groups", type=int, default=reference_default("norm_groups"))
    s.add_argument("--fixed-sigma", action="store_true", help="3 output channels instead of learn_sigma's 6")
    s.set_defaults(func=cmd_params)

    s = sub.add_parser("materialize", help="generate a training set (or held-out images) to .npz plus a JSON card")
    s.add_argument("--base", required=True,
                   help="mondrian, gm, random_ink, shapes, cifar:<class name>, cifar:all or folder:<directory>")
    s.add_argument("--n", type=int, required=True, help="base images")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--image-size", type=int, required=True)
    s.add_argument("--dummy", default="none", help="kind of the second component: none, a synthetic kind, hybrid "
                   "or heldout")
    s.add_argument("--ndummy", type=int, default=0, help="images of the second component")
    s.add_argument("--cifar-root", help="directory holding cifar-10-batches-py (for cifar: bases)")
    s.add_argument("--seed-offset", type=int, default=0, help="added to --seed (fresh draws no training set uses)")
    s.add_argument("--heldout", action="store_true",
                   help="write images of the base distribution disjoint from its training sets instead")
    s.add_argument("--out", required=True, help=".npz with images uint8 [N,H,W,3] and labels int64 [N]")
    s.add_argument("--card", required=True, help="JSON card (counts, labels, sha256)")
    s.set_defaults(func=cmd_materialize)
