# Train one cell's model, and the base-vs-dummy classifier of Appendix C.1. A training job resumes automatically
# from "<model>.state" (written atomically every train.checkpoint_every steps and on SIGTERM), which Snakemake does
# not know as an output and so never deletes.


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


rule train_classifier:
    input:
        unpack(classifier_sets),
    output:
        model=out("classifier"),
        metrics=out("classifier_metrics"),
    log:
        log_path("classifier"),
    threads: stage_threads("score")
    resources:
        mem_mb=2000,
        runtime=Runtime(30),
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen train-classifier --a {input.base} --b {input.dummy}"
        " --name-a {wildcards.dataset} --name-b {wildcards.dummy} --seed {wildcards.seed} --threads {threads}"
        " --out {output.model} --metrics {output.metrics} > {log} 2>&1"


rule import_model:
    input:
        checkpoint=import_source,
    output:
        model=out("imported"),
    log:
        log_path("imported"),
    params:
        flags=import_flags,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen import-checkpoint {input.checkpoint:q} {params.flags} --out {output.model} > {log} 2>&1"
