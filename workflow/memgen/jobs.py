"""What a job does, file in, file out: the functions that the study records' jobs name (`memgen.studies.job.Job`,
run by ``memgen job``) and that the matching subcommands call, so each has one implementation.

Each takes its input and output files as paths and its parameters as keyword arguments. A job that runs a network
also gets ``device`` and ``prepare`` (a callable run once its inputs are read and checked, before the network:
it claims a GPU and sets the threads, `memgen.cli.common.prepare`). Heavy imports sit inside the functions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from memgen.errors import MemgenError

LOG = logging.getLogger("memgen")


def _nothing() -> None:
    return None


def materialize(data, card, *, base: str, n: int, seed: int, image_size: int, cifar_root=None, heldout: bool = False,
                dummy: str = "none", ndummy: int = 0, seed_offset: int = 0) -> None:
    """A training set of ``n`` base images (+ ``ndummy`` of the kind ``dummy``), or with ``heldout`` images of the
    base distribution that no training set of the seed holds: ``data`` (.npz) and its JSON ``card``."""
    from memgen.data.materialize import build_heldout_set, build_training_set, write_dataset

    seed = int(seed) + int(seed_offset)
    if heldout:
        images, labels, about = build_heldout_set(base, int(n), seed, int(image_size), cifar_root=cifar_root)
    else:
        images, labels, about = build_training_set(base, int(n), seed, int(image_size), dummy, int(ndummy),
                                                   cifar_root=cifar_root)
    write_dataset(data, card, images, labels, about)
    LOG.info(f"wrote {data}: {len(images)} images {about['counts']} exact_duplicates={about['exact_duplicates']}")


def train_classifier(a, b, model, metrics, *, name_a: str = "base", name_b: str = "dummy", seed: int = 0,
                     steps: int = 300, device: str = "auto", prepare=_nothing) -> None:
    """The base-vs-dummy classifier of Appendix C.1 on the images of ``a`` (class a) and ``b``: its state
    (``model``, .pt) and validation metrics (``metrics``, .json)."""
    from memgen import io
    from memgen.classifier import train_classifier as fit

    prepare()
    images_a, _ = io.load_images_npz(a, require_labels=False)
    images_b, _ = io.load_images_npz(b, require_labels=False)
    state, scores = fit(images_a, images_b, seed=int(seed), steps=int(steps), class_names=(name_a, name_b),
                        device=device)
    io.torch_save(model, state)
    io.write_json(metrics, scores)
    LOG.info(f"wrote {model}: validation accuracy {scores['val_accuracy']:.4f}")


def select(samples, classifier, selected) -> None:
    """The samples relabelled by a classifier (0 = its class a, the base kind; 1 = class b): ``selected``."""
    from memgen import classifier as clf
    from memgen import io

    state = clf.load(classifier)
    images, _ = io.load_images_npz(samples, require_labels=False)
    labels = clf.label_samples(state, images)
    io.save_images_npz(selected, images, labels)
    LOG.info(f"wrote {selected}: {int((labels == 0).sum())}/{len(images)} samples classified as "
             f"{state['config']['class_names'][0]} (label 0), the rest label 1")


def import_checkpoint(checkpoint, model, *, source: str, raw=None, facts=None, **flags) -> None:
    """A checkpoint trained elsewhere as a memgen checkpoint ``model``: a memgen file is checked and copied, an
    openai/improved-diffusion state dict converted (``flags``: `memgen.interop.convert.import_improved_diffusion`'s
    keywords). ``raw``: the same run's raw weights at the same step (improved-diffusion's ``model{step}.pt`` beside
    its ``ema_{rate}_{step}.pt``), stored as the checkpoint's ``model`` weights; without it the file's weights are
    both. ``facts``: also cache what the study grid reads of ``checkpoint`` there (`memgen.interop.facts`)."""
    from memgen import checkpoint as ckpts
    from memgen import io
    from memgen.interop.convert import check_finite, import_improved_diffusion
    from memgen.interop.facts import write_facts

    if Path(model).resolve() == Path(checkpoint).resolve():
        raise MemgenError(f"--out {model}: is the input file; write the memgen checkpoint elsewhere")
    if raw is not None and Path(raw).resolve() == Path(checkpoint).resolve():
        raise MemgenError(f"--raw {raw}: is the EMA file itself; give the run's model{{step}}.pt")
    if source == "memgen":  # checked (format, weights) and copied, so the DAG owns its input
        ckpt = ckpts.load(checkpoint)
        check_finite(checkpoint, {f"{part}.{k}": v for part in ("model", "ema") for k, v in ckpt[part].items()
                                  if v.is_floating_point()})
        LOG.info(f"{checkpoint}: memgen checkpoint, width {ckpt['width']}, step {ckpt['step']}")
    else:
        ckpt, lines = import_improved_diffusion(checkpoint, **flags)
        for line in lines:
            LOG.info(line)
    if raw is not None:
        ckpt = _with_raw_weights(ckpt, raw, source, flags)
    io.torch_save(model, ckpt)
    LOG.info(f"wrote {model}")
    if facts:
        write_facts(checkpoint, source, facts, {"width": int(ckpt["width"]), "step": int(ckpt["step"]),
                                                "conditional": ckpt["unet"]["num_classes"] > 0})


def _with_raw_weights(ckpt: dict, raw, source: str, flags: dict) -> dict:
    """``ckpt`` with the ``model`` (raw) weights of the file ``raw``, which must hold the same network at the same
    step."""
    from memgen import checkpoint as ckpts
    from memgen.interop.convert import import_improved_diffusion

    other = ckpts.load(raw) if source == "memgen" else import_improved_diffusion(raw, **flags)[0]
    weights = other["model"] if source == "memgen" else other["ema"]
    if other["unet"] != ckpt["unet"] or int(other["step"]) != int(ckpt["step"]):
        raise MemgenError(f"{raw}: not the raw weights of the same network at step {ckpt['step']} "
                          f"(step {other['step']})")
    LOG.info(f"raw weights (model) from {raw}")
    return {**ckpt, "model": weights, "imported_raw": str(Path(raw).name)}


def loss_gap(model, train, heldout, table, *, levels: int, seed: int, checkpoint=None, images=None, meta=None,
             device: str = "auto", prepare=_nothing) -> None:
    """The denoising loss per noise level of a model's EMA weights on ``train`` vs ``heldout`` images (Kaiser &
    Kollmann): ``table`` (per level), ``images`` (per image). ``model``: its checkpoint file, or the snapshot
    directory of its run with ``checkpoint`` the snapshot file in it. ``meta``: constant columns, a column the
    checkpoint already gives keeping its value."""
    checkpoint = checkpoint or model
    from memgen import io
    from memgen.evaluation.loss_gap_checkpoints import checkpoints_tables

    prepare()
    train_images, train_labels = io.load_images_npz(train)
    held, held_labels = io.load_images_npz(heldout)
    tables = checkpoints_tables([checkpoint], train_images, held, train_labels, held_labels, seed=int(seed),
                                k=int(levels), device=device)
    for frame, out in zip(tables, (table, images)):
        if out:
            for key, value in (meta or {}).items():
                if key not in frame.columns:
                    frame[key] = value
            io.write_parquet(out, frame)
            LOG.info(f"wrote {out}")


def score(train, samples, out, *, threshold: float, summary=None, card=None, heldout=None, meta=None,
          sample_set=None, device: str = "auto", prepare=_nothing) -> None:
    """Yoon et al.'s ratio criterion on every sample against its training set (``out``: one row per sample), and
    with the training set's ``card`` the four-way outcome; ``summary``: per label, the fractions with Wilson
    intervals (`memgen.analysis.aggregate.summarize_scores`), with ``heldout`` images the data-copying test C_T.
    ``meta``: constant columns of both tables; ``sample_set``: the per-sample table's ``sample_set`` column."""
    import pandas as pd

    from memgen import io

    train_images, train_labels = io.load_images_npz(train, require_labels=False)  # checked before torch loads
    images, sample_labels = io.load_images_npz(samples, require_labels=False)
    if images.shape[1:] != train_images.shape[1:]:
        raise MemgenError(f"{samples}: samples are {images.shape[1:]} but {train} holds {train_images.shape[1:]} "
                          "images")
    if len(train_images) < 2:
        raise MemgenError(f"{train}: holds {len(train_images)} image; the ratio criterion needs at least 2")
    about = _card(card) if card else None
    held = io.load_images_npz(heldout, require_labels=False)[0] if heldout else None
    from memgen.analysis.aggregate import summarize_scores
    from memgen.evaluation.assess import assess, copying_summary, heldout_partial_rate, outcome_summary
    from memgen.score import score_samples

    prepare()
    scores = score_samples(images, train_images, sample_labels, train_labels, threshold=threshold, device=device)
    if about is not None:
        scores = assess(scores, images, train_images, train_labels, about, threshold=threshold, device=device)
    add_columns(scores, meta or {})
    if sample_set:
        scores["sample_set"] = sample_set
    table = None
    if summary:  # built before anything is written, so a bad meta leaves no partial output
        table = summarize_scores(scores, train_labels, by_label=True)
        table.insert(0, "threshold", threshold)
        if about is not None:
            table = table.merge(outcome_summary(scores), on="label", how="left")
        if held is not None:  # C_T and the tile criterion's rate on held-out images: the base (label 0) row
            base_row = copying_summary(scores, images, train_images, train_labels, held, about or {})
            base_row |= heldout_partial_rate(held, train_images, train_labels, about or {}, threshold=threshold,
                                             device=device, n_max=int((scores["label"] == 0).sum()))
            table = table.merge(pd.DataFrame([{"label": 0, **base_row}]), on="label", how="left")
        add_columns(table, meta or {})
    io.write_parquet(out, scores)
    if table is not None:
        io.write_parquet(summary, table)
    LOG.info(f"wrote {out}: {int(scores['is_replicate'].sum())}/{len(scores)} replicates (ratio < {threshold:.4g})")


def _card(path) -> dict:
    from memgen import io

    card = io.read_json(path)
    if not isinstance(card, dict) or not isinstance(card.get("class_names"), dict):
        raise MemgenError(f"{path}: not a dataset card (a JSON object with class_names expected)")
    return card


def add_columns(table, meta: dict) -> None:
    """Add each KEY=VALUE of ``meta`` as a constant column; a KEY that is already a column is refused, not
    overwritten."""
    clash = [key for key in meta if key in table.columns]
    if clash:
        raise MemgenError(f"--meta {clash[0]}={meta[clash[0]]}: '{clash[0]}' is already a column of the table")
    for key, value in meta.items():
        table[key] = value
