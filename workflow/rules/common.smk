# The path grammar, written once.
#   {results}/data/{dataset}/n{size}-{dummy}{ndummy}-s{seed}/                 a training set
#   {results}/models/{dataset}/{CELL}/                                         a trained model, shared by experiments
#   {results}/{experiment}/{CELL}/                                             its samples and scores in one study
# CELL = w{width}-n{size}-{dummy}{ndummy}-it{steps}-b{batch}-{cond}-s{seed}: UNet width, base images, dummy kind
# and count ("none0" for none), optimizer steps, batch size, cond/uncond, seed (memgen/grid.py expands the grid).
# Every job's log mirrors its output path under {results}/logs/.
import json
import os
import shlex
import sys

from memgen import grid

RESULTS = config["results"].rstrip("/")
# Jobs run `python -m memgen ...` with the interpreter that runs Snakemake (a venv need not be activated;
# SLURM jobs re-run this file through the same interpreter, so they get the same PATH).
shell.prefix(f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:\"$PATH\"; ")
ENV = "../../envs/memgen.yaml"
CELL = "w{width}-n{size}-{dummy}{ndummy}-it{steps}-b{batch}-{cond}-s{seed}"
DATA = "data/{dataset}/n{size}-{dummy}{ndummy}-s{seed}"

PATHS = {
    "data": f"{RESULTS}/{DATA}/train.npz",
    "card": f"{RESULTS}/{DATA}/card.json",
    "model": f"{RESULTS}/models/{{dataset}}/{CELL}/model.pt",
    "loss_log": f"{RESULTS}/models/{{dataset}}/{CELL}/loss.parquet",
    "samples": f"{RESULTS}/{{experiment}}/{CELL}/samples.npz",
    "scores": f"{RESULTS}/{{experiment}}/{CELL}/scores.parquet",
    "summary": f"{RESULTS}/{{experiment}}/{CELL}/summary.parquet",
    "table": f"{RESULTS}/{{experiment}}/replicates.parquet",
    "table_md": f"{RESULTS}/{{experiment}}/replicates.md",
    "figure": f"{RESULTS}/{{experiment}}/figures/{{figure}}.png",
}


def log_path(kind):
    """The log of the job writing PATHS[kind]: same path under {results}/logs/, suffix .log."""
    rel = PATHS[kind][len(RESULTS) + 1 :]
    return f"{RESULTS}/logs/{rel.rsplit('.', 1)[0]}.log"


def bench_path(kind):
    rel = PATHS[kind][len(RESULTS) + 1 :]
    return f"{RESULTS}/benchmarks/{rel.rsplit('.', 1)[0]}.tsv"


wildcard_constraints:
    experiment=r"[a-z][a-z0-9_]*",
    dataset=r"[a-z][a-z0-9_-]*",
    width=r"\d+",
    size=r"\d+",
    dummy=r"[a-z][a-z_]*",
    ndummy=r"\d+",
    steps=r"\d+",
    batch=r"\d+",
    cond=r"cond|uncond",
    seed=r"\d+",
    figure=r"[a-z][a-z0-9_]*",


def cell_paths(experiment, kind):
    """PATHS[kind] for every cell of an experiment (the grid, expanded from the config by memgen.grid)."""
    return [PATHS[kind].format(**c.wildcards()) for c in grid.cells(config, experiment)]


def experiment_dataset(wildcards):
    return grid.dataset_token(config["experiments"][wildcards.experiment]["dataset"])


def model_of_cell(wildcards):
    return PATHS["model"].format(**{**wildcards, "dataset": experiment_dataset(wildcards)})


def data_of_cell(wildcards):
    return PATHS["data"].format(**{**wildcards, "dataset": experiment_dataset(wildcards)})


FIGURES = {
    "capacity": ["capacity"],
    "dummies_mondrian": ["dummies"],
    "dummies_cifar": ["dummies"],
    "classes": ["classes"],
    "dummy_kinds": ["dummy_kinds"],
}


def experiment_targets(experiment):
    figures = expand(PATHS["figure"], experiment=experiment, figure=FIGURES.get(experiment, []))
    return [*expand(PATHS["table"], experiment=experiment), *expand(PATHS["table_md"], experiment=experiment), *figures]


def all_targets():
    return [t for name in grid.enabled_trained_experiments(config) if name in FIGURES for t in experiment_targets(name)]


def stage_resources(stage):
    return config["resources"][stage]


def device_for(stage):
    return "cuda" if stage_resources(stage)["gpu"] else "cpu"


def dataset_base(wildcards):
    return grid.dataset_specs(config)[wildcards.dataset]


def train_config_json(wildcards):
    """The training-relevant config, inline JSON: only a change here reruns training (params trigger)."""
    return json.dumps(grid.train_spec(config, wildcards.steps, wildcards.batch), sort_keys=True)


def conditional_flag(wildcards):
    return "yes" if wildcards.cond == "cond" else "no"


def sample_args(wildcards):
    """--num-samples and, for class-conditional cells, --classes of this experiment's cell."""
    cell = grid.find_cell(config, wildcards)
    args = f"--num-samples {cell.num_samples}"
    if cell.conditional and cell.sample_classes:
        args += " --classes " + " ".join(map(str, cell.sample_classes))
    return args


def score_meta(wildcards):
    cell = grid.find_cell(config, wildcards)
    meta = {
        "experiment": cell.experiment,
        "dataset": cell.dataset_token,
        "width": cell.width,
        "size": cell.size,
        "dummy": cell.dummy,
        "count": cell.ndummy,
        "seed": cell.seed,
        "steps": cell.steps,
        "batch_size": cell.batch_size,
        "conditional": int(cell.conditional),
        "exposure": cell.exposure,
        "n_train_total": cell.n_train,
    }
    return " ".join(f"--meta {k}={v}" for k, v in meta.items())


def experiment_summaries(wildcards):
    return cell_paths(wildcards.experiment, "summary")
