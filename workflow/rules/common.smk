# The path grammar, written once. A cell is one trained model:
#   {results}/{experiment}/w{width}-n{size}-{dummy}{ndummy}-s{seed}/
# (width of the UNet, base training images, dummy kind and count - "none0" for none - and the seed).
# Every job's log mirrors its output path under {results}/logs/.
import json
import os
import shlex
import sys

from memgen.config import training_spec

RESULTS = config["results"].rstrip("/")
# Jobs run `python -m memgen ...` with the interpreter that runs Snakemake (a venv need not be activated;
# SLURM jobs re-run this file through the same interpreter, so they get the same PATH).
shell.prefix(f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:\"$PATH\"; ")
ENV = "../../envs/memgen.yaml"
CELL = "{experiment}/w{width}-n{size}-{dummy}{ndummy}-s{seed}"
DATA = "{experiment}/data/n{size}-{dummy}{ndummy}-s{seed}"

PATHS = {
    "data": f"{RESULTS}/{DATA}/train.npz",
    "card": f"{RESULTS}/{DATA}/card.json",
    "model": f"{RESULTS}/{CELL}/model.pt",
    "loss_log": f"{RESULTS}/{CELL}/loss.parquet",
    "samples": f"{RESULTS}/{CELL}/samples.npz",
    "scores": f"{RESULTS}/{CELL}/scores.parquet",
    "summary": f"{RESULTS}/{CELL}/summary.parquet",
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
    width=r"\d+",
    size=r"\d+",
    dummy=r"[a-z][a-z_]*",
    ndummy=r"\d+",
    seed=r"\d+",
    figure=r"[a-z][a-z0-9_]*",


def experiment_config(name):
    return config["experiments"][name]


def cells(experiment, kind):
    """PATHS[kind] for every cell of an experiment (the grid, expanded from the config)."""
    e = experiment_config(experiment)
    return expand(PATHS[kind], experiment=experiment, width=e["widths"], size=e["sizes"],
                  dummy="none", ndummy=0, seed=config["seeds"])


FIGURES = {"capacity": ["capacity"]}


def experiment_targets(experiment):
    figures = expand(PATHS["figure"], experiment=experiment, figure=FIGURES[experiment])
    return [*expand(PATHS["table"], experiment=experiment), *expand(PATHS["table_md"], experiment=experiment), *figures]


def all_targets():
    return [t for name, e in config["experiments"].items() if e["enabled"] for t in experiment_targets(name)]


def stage_resources(stage):
    return config["resources"][stage]


def device_for(stage):
    return "cuda" if stage_resources(stage)["gpu"] else "cpu"


def train_config_json(wildcards):
    """The training-relevant config, inline JSON: only a change here reruns training (params trigger)."""
    return json.dumps(training_spec(config), sort_keys=True)


def dataset_base(wildcards):
    return experiment_config(wildcards.experiment)["dataset"]


def score_meta(wildcards):
    e = experiment_config(wildcards.experiment)
    meta = {
        "experiment": wildcards.experiment,
        "dataset": e["dataset"],
        "width": wildcards.width,
        "size": wildcards.size,
        "dummy": wildcards.dummy,
        "count": wildcards.ndummy,
        "seed": wildcards.seed,
        "steps": config["train"]["steps"],
        "batch_size": config["train"]["batch_size"],
        "n_train_total": int(wildcards.size) + int(wildcards.ndummy),
    }
    return " ".join(f"--meta {k}={v}" for k, v in meta.items())


def experiment_summaries(wildcards):
    return cells(wildcards.experiment, "summary")
