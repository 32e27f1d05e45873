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
    "snapshots": f"{RESULTS}/models/{{dataset}}/{CELL}/snapshots",
    "heldout": f"{RESULTS}/data/{{dataset}}/heldout-n{{size}}-s{{seed}}/heldout.npz",
    "opt_samples": f"{RESULTS}/optimal/{{dataset}}/n{{size}}-{{dummy}}{{ndummy}}-s{{seed}}/samples.npz",
    "opt_scores": f"{RESULTS}/optimal/{{dataset}}/n{{size}}-{{dummy}}{{ndummy}}-s{{seed}}/scores.parquet",
    "opt_summary": f"{RESULTS}/optimal/{{dataset}}/n{{size}}-{{dummy}}{{ndummy}}-s{{seed}}/summary.parquet",
    "selected": f"{RESULTS}/{{experiment}}/{CELL}/selected.npz",
    "classifier": f"{RESULTS}/{{experiment}}/classifier/{{dataset}}-vs-{{dummy}}-s{{seed}}.pt",
    "classifier_metrics": f"{RESULTS}/{{experiment}}/classifier/{{dataset}}-vs-{{dummy}}-s{{seed}}.json",
    "classifier_data": f"{RESULTS}/data/{{dataset}}/classifier-{{dummy}}-n{{size}}-s{{seed}}/{{side}}.npz",
    "gallery": f"{RESULTS}/{{experiment}}/{CELL}/gallery.png",
    "gallery_table": f"{RESULTS}/{{experiment}}/{CELL}/gallery.parquet",
    "loss_gap": f"{RESULTS}/loss_gap/losses.parquet",
    "capacity_estimates": f"{RESULTS}/capacity/memorization_capacity.parquet",
    "criterion_pairs": f"{RESULTS}/criterion_pairs/figures/criterion_pairs.png",
    "criterion_table": f"{RESULTS}/criterion_pairs/pairs.parquet",
    "sweep": f"{RESULTS}/criterion_pairs/threshold_sweep.parquet",
    "sweep_figure": f"{RESULTS}/criterion_pairs/figures/threshold_sweep.png",
    "table1": f"{RESULTS}/table1/table1.parquet",
    "table1_md": f"{RESULTS}/table1/table1.md",
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
    side=r"base|dummy",


def cell_paths(experiment, kind):
    """PATHS[kind] for every cell of an experiment (the grid, expanded from the config by memgen.grid)."""
    return [PATHS[kind].format(**c.wildcards()) for c in grid.cells(config, experiment)]


def experiment_dataset(wildcards):
    return grid.dataset_token(config["experiments"][wildcards.experiment]["dataset"])


def model_of_cell(wildcards):
    """The checkpoint a cell samples: its model, or for a snapshot cell the snapshots of its full run."""
    cell = grid.find_cell(config, wildcards)
    kind = "snapshots" if cell.is_snapshot else "model"
    return PATHS[kind].format(**cell.model_wildcards())


def checkpoint_of_cell(wildcards):
    cell = grid.find_cell(config, wildcards)
    if cell.is_snapshot:
        return f"{PATHS['snapshots'].format(**cell.model_wildcards())}/step{cell.steps:07d}.pt"
    return PATHS["model"].format(**cell.model_wildcards())


def snapshot_args(wildcards):
    steps = grid.snapshot_steps(config, wildcards)
    return ("--snapshots " + " ".join(map(str, steps))) if steps else ""


def data_of_cell(wildcards):
    return PATHS["data"].format(**{**wildcards, "dataset": experiment_dataset(wildcards)})


FIGURES = {
    "capacity": ["capacity"],
    "dummies_mondrian": ["dummies"],
    "dummies_cifar": ["dummies"],
    "classes": ["classes"],
    "dummy_kinds": ["dummy_kinds"],
    "unconditional_dummies": [],
    "loss_gap": ["onset", "loss_gap"],
}
GALLERIES = {"dummies_mondrian", "dummies_cifar", "classes", "unconditional_dummies"}  # Figures 3-4, 6, 8, 9


def experiment_targets(experiment):
    out = [*expand(PATHS["table"], experiment=experiment), *expand(PATHS["table_md"], experiment=experiment),
           *expand(PATHS["figure"], experiment=experiment, figure=FIGURES.get(experiment, []))]
    if experiment in GALLERIES:
        out += cell_paths(experiment, "gallery")
    if experiment == "capacity":
        out.append(PATHS["capacity_estimates"])
    if experiment == "loss_gap":
        out.append(PATHS["loss_gap"])
    return out


def study_targets(study):
    """Targets of the studies that train nothing of their own."""
    return {
        "optimal": optimal_paths("opt_summary"),
        "criterion_pairs": [PATHS["criterion_pairs"], PATHS["sweep_figure"]],
        "table1": [PATHS["table1"], PATHS["table1_md"]],
    }[study]


def all_targets():
    out = [t for name in grid.enabled_trained_experiments(config) for t in experiment_targets(name)]
    for study in ("optimal", "criterion_pairs", "table1"):
        if config["experiments"][study]["enabled"]:
            out += study_targets(study)
    return out


def optimal_paths(kind):
    """The closed-form optimal denoiser on every capacity training set."""
    seen = {}
    for c in grid.cells(config, "capacity"):
        seen[(c.dataset_token, c.size, c.seed)] = PATHS[kind].format(**{**c.wildcards(), "dummy": "none", "ndummy": 0})
    return list(seen.values())


def capacity_reference(wildcards):
    """The optimal denoiser's summaries beside the capacity figure, when that study is enabled."""
    if wildcards.experiment == "capacity" and config["experiments"]["optimal"]["enabled"]:
        return optimal_paths("opt_summary")
    return []


def loss_gap_inputs(wildcards):
    """Snapshots + final model of each loss-gap run, its training set and a held-out set of the same size."""
    out = {"models": [], "train": [], "heldout": []}
    exp = config["experiments"]["loss_gap"]
    for c in grid.cells(config, "loss_gap"):
        wc = c.model_wildcards()
        out["models"].append(model_of_cell(c.wildcards()))
        out["train"].append(PATHS["data"].format(**wc))
        out["heldout"].append(PATHS["heldout"].format(**{**wc, "size": exp["heldout"]}))
    return {k: sorted(set(v), key=v.index) for k, v in out.items()}


def loss_gap_checkpoints(wildcards):
    """The checkpoint files (snapshots inside their directories, and final models) the loss gap evaluates."""
    return " ".join(checkpoint_of_cell(c.wildcards()) for c in grid.cells(config, "loss_gap"))


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


# Scheduling: Snakemake runs the ready job of highest priority first and does not pass priorities upstream. Data
# sets (seconds each) go first so that every training is ready early; then the longest training first (cost ~
# steps x batch x width^2), ahead of every sampling job (priority 0), so a run does not end on one long training
# alone while the other cores idle. Measured on the default config, 2 cores: without the data priority the three
# width-32 trainings were started last.
DATA_PRIORITY = 1e6


def train_priority(wildcards):
    return int(wildcards.steps) * int(wildcards.batch) * int(wildcards.width) ** 2 / 1e6


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


def train_config_json_default(wildcards):
    """The global training-relevant config (the optimal denoiser uses its diffusion section)."""
    return json.dumps(grid.train_spec(config, config["train"]["steps"], config["train"]["batch_size"]), sort_keys=True)


def cell_paths_capacity_samples(wildcards):
    return cell_paths("capacity", "samples")


def cell_paths_capacity_scores(wildcards):
    return cell_paths("capacity", "scores")


def cell_paths_capacity_data(wildcards):
    return [PATHS["data"].format(**c.model_wildcards()) for c in grid.cells(config, "capacity")]


def figure_inputs(wildcards):
    """A figure's table (the loss-gap losses for that figure) and its reference tables."""
    if wildcards.figure == "loss_gap":
        return {"table": PATHS["loss_gap"], "reference": PATHS["table"].format(experiment="loss_gap")}
    return {"table": PATHS["table"].format(experiment=wildcards.experiment), "reference": capacity_reference(wildcards)}


def samples_to_score(wildcards):
    """Appendix C.1: an unconditional model's samples are scored after the classifier keeps the base class."""
    kind = "selected" if wildcards.experiment == "unconditional_dummies" else "samples"
    return PATHS[kind].format(**wildcards)


def classifier_of_cell(wildcards):
    exp = config["experiments"][wildcards.experiment]
    return PATHS["classifier"].format(experiment=wildcards.experiment, dataset=experiment_dataset(wildcards),
                                      dummy=exp["dummy"], seed=wildcards.seed)


def classifier_sets(wildcards):
    """Fresh images of the base and the dummy kind (disjoint from any training set) to train the classifier."""
    n = max(config["experiments"][wildcards.experiment]["size"], 256)
    return {side: PATHS["classifier_data"].format(dataset=wildcards.dataset, dummy=wildcards.dummy, size=n,
                                                  seed=wildcards.seed, side=side) for side in ("base", "dummy")}


def classifier_data_args(wildcards):
    """materialize arguments: held-out base images, or dummy-kind images from a seed no training set uses."""
    if wildcards.side == "base":
        return f"--heldout --base {shlex.quote(dataset_base(wildcards))}"
    return f"--base {wildcards.dummy} --seed-offset 1000003"
