# Train one cell. The job resumes automatically from "<model>.state" (written atomically every
# train.checkpoint_every steps), which Snakemake does not know as an output and so never deletes.


rule train:
    input:
        data=PATHS["data"],
        card=PATHS["card"],
    output:
        model=PATHS["model"],
        loss_log=PATHS["loss_log"],
        snapshots=directory(PATHS["snapshots"]),
    log:
        log_path("model"),
    benchmark:
        bench_path("model")
    params:
        config=train_config_json,
        conditional=conditional_flag,
        snapshots=snapshot_args,
        device=device_for("train"),
    priority: train_priority
    threads: stage_resources("train")["threads"]
    resources:
        mem_mb=stage_resources("train")["mem_mb"],
        runtime=stage_resources("train")["runtime"],
        gpu=stage_resources("train")["gpu"],
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen train --config {params.config:q}"
        " --data {input.data} --card {input.card} --width {wildcards.width} --seed {wildcards.seed}"
        " --conditional {params.conditional} {params.snapshots} --snapshot-dir {output.snapshots}"
        " --out {output.model} --loss-log {output.loss_log} --device {params.device} --threads {threads}"
        " > {log} 2>&1"
