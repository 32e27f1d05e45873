# Train one cell's model. A training job resumes automatically from "<model>.state" (written atomically every
# train.checkpoint_every steps and on SIGTERM), which Snakemake does not know as an output and so never deletes.


rule train:
    input:
        data=out("data"),
        card=out("card"),
    output:
        model=out("model"),
        loss_log=out("loss_log"),
        snapshots=directory(out("snapshots")),
    log:
        log_path("model"),
    benchmark:
        bench_path("model")
    params:
        config=training_spec_json,
        conditional=conditional_flag,
        snapshots=snapshot_args,
        device=device_for("train"),
        slots=gpu_slots("train"),
    priority: train_priority
    threads: stage_threads("train")
    resources:
        **stage_resources("train"),
    conda:
        ENV
    shell:
        "MEMGEN_GPU_SLOTS={params.slots} OMP_NUM_THREADS={threads} python -m memgen train --config {params.config:q}"
        " --data {input.data} --card {input.card} --width {wildcards.width} --seed {wildcards.seed}"
        " --conditional {params.conditional} {params.snapshots} --snapshot-dir {output.snapshots}"
        " --out {output.model} --loss-log {output.loss_log} --device {params.device} --threads {threads}"
        " > {log} 2>&1"
