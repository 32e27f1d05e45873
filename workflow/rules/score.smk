# Score a cell's samples against its training set with the ratio criterion; the grid travels as columns.


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


rule score:
    input:
        data=PATHS["data"],
        samples=PATHS["samples"],
    output:
        scores=PATHS["scores"],
        summary=PATHS["summary"],
    log:
        log_path("scores"),
    params:
        threshold=config["score"]["threshold"],
        meta=score_meta,
        device=device_for("score"),
    threads: stage_resources("score")["threads"]
    resources:
        mem_mb=stage_resources("score")["mem_mb"],
        runtime=stage_resources("score")["runtime"],
        gpu=stage_resources("score")["gpu"],
    shell:
        "OMP_NUM_THREADS={threads} {PYTHON} -m memgen score --train {input.data} --samples {input.samples}"
        " --threshold {params.threshold} {params.meta} --device {params.device} --threads {threads}"
        " --out {output.scores} --summary {output.summary} > {log} 2>&1"
