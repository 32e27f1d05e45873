"""The path grammar, written once: every file the pipeline makes, relative to the results directory.

    data/{dataset}/n{size}-{dummy}{ndummy}-s{seed}/        a training set (train.npz + card.json)
    models/{dataset}/{CELL}/                               a trained model, shared by every study that uses it
    samples/{dataset}/{CELL}/{SAMPLING}/                   a sample set drawn from it, shared the same way
    {study}/{CELL}/                                        its scores (and gallery) in one study
    {study}/{table}.parquet, {study}/figures/{figure}.png  the study's tables and figures
    answers.html                                           the report's first page (every study's verdicts)

CELL = ``w{width}-n{size}-{dummy}{ndummy}-it{steps}-b{batch}-{cond}-s{seed}`` (`memgen.studies.cell.Cell.name`);
under ``models/`` and ``samples/`` its ``it{steps}`` is the run's step budget, under ``{study}/`` the step of the
weights the cell samples (a snapshot cell's is earlier).
SAMPLING = ``{ckpt}-{weights}-{labels}-x{num_samples}-t{sample_steps}-s{sample_seed}``: which checkpoint (final,
step{N}, imported), weights (ema, raw), classes (all, y0, ...), samples per class, respaced steps and sampling
seed (`memgen.studies.sample_set`).
A study's own kinds of jobs name their files in the same grammar on its record (`memgen.studies.job.Job`).
Logs mirror these paths under ``logs/`` (suffix .log), benchmarks under ``benchmarks/`` (.tsv).
"""

from __future__ import annotations

CELL = "w{width}-n{size}-{dummy}{ndummy}-it{steps}-b{batch}-{cond}-s{seed}"
DATA = "data/{dataset}/n{size}-{dummy}{ndummy}-s{seed}"
MODEL = "models/{dataset}/" + CELL
SET = "{study}/{dataset}/n{size}-{dummy}{ndummy}-s{seed}"  # per training set (the optimal denoiser)
SAMPLING = "{ckpt}-{weights}-{labels}-x{num_samples}-t{sample_steps}-s{sample_seed}"
SAMPLES = "samples/{dataset}/" + CELL + "/" + SAMPLING  # a sample set (memgen.studies.sample_set.SampleSet)

PATHS = {
    # data
    "data": f"{DATA}/train.npz",
    "card": f"{DATA}/card.json",
    "heldout": "data/{dataset}/heldout-n{size}-s{seed}/heldout.npz",
    # models
    "model": f"{MODEL}/model.pt",
    "imported": f"{MODEL}/imported.pt",  # a model trained elsewhere, imported (by a study's job)
    "loss_log": f"{MODEL}/loss.parquet",
    "snapshots": f"{MODEL}/snapshots",
    # sample sets, shared by every cell (of any study) that scores them
    "samples": f"{SAMPLES}/samples.npz",
    "sample_card": f"{SAMPLES}/card.json",  # what was drawn, from which file, how (memgen sample --card)
    # per cell
    "scores": f"{{study}}/{CELL}/scores.parquet",
    "summary": f"{{study}}/{CELL}/summary.parquet",
    "gallery": f"{{study}}/{CELL}/gallery.png",
    "gallery_table": f"{{study}}/{CELL}/gallery.parquet",
    # per training set
    "opt_samples": f"{SET}/samples.npz",
    "opt_scores": f"{SET}/scores.parquet",
    "opt_summary": f"{SET}/summary.parquet",
    # per study: its tables (`memgen.studies.record.Table`) and figures (`...Plot`), by name
    "table": "{study}/{table}.parquet",
    "table_md": "{study}/{table}.md",
    "figure": "{study}/figures/{figure}.png",
    "figure_table": "{study}/figures/{figure}.parquet",  # the table the figure drew
    # per run: the report's first page (every selected study's comparisons, the front figures)
    "answers": "answers.html",
}


def path(kind: str, **wildcards) -> str:
    """PATHS[kind] with its wildcards filled (relative to the results directory)."""
    return PATHS[kind].format(**wildcards)
