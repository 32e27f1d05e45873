# Draw samples: from a cell's EMA weights (per class for class-conditional models), from the closed-form optimal
# denoiser of a training set, and (Appendix C.1) label an unconditional model's samples with the classifier.


rule sample:
    input:
        model=cell_model,
    output:
        samples=out("samples"),
    log:
        log_path("samples"),
    benchmark:
        bench_path("samples")
    params:
        counts=cell_sample_args,
        checkpoint=cell_checkpoint,
        steps=CFG.sample.steps,
        batch_size=CFG.sample.batch_size,
        precision=CFG.sample.precision,
        compile=CFG.sample.compile,
        device=device_for("sample"),
        slots=gpu_slots("sample"),
    threads: stage_threads("sample")
    resources:
        **stage_resources("sample"),
    conda:
        ENV
    shell:
        "MEMGEN_GPU_SLOTS={params.slots} OMP_NUM_THREADS={threads} python -m memgen sample"
        " --checkpoint {params.checkpoint} {params.counts} --steps {params.steps} --seed {wildcards.seed}"
        " --batch-size {params.batch_size} --precision {params.precision} --compile {params.compile}"
        " --device {params.device} --threads {threads}"
        " --out {output.samples} > {log} 2>&1"


rule sample_optimal:
    input:
        data=out("data"),
    output:
        samples=out("opt_samples"),
    log:
        log_path("opt_samples"),
    params:
        config=json.dumps(CFG.training_spec(), sort_keys=True),
        num_samples=CFG.sample.num_samples,
        steps=CFG.sample.steps,
    threads: stage_threads("sample")
    resources:
        **fixed_resources("sample"),
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen sample-optimal --train {input.data} --config {params.config:q}"
        " --num-samples {params.num_samples} --steps {params.steps} --seed {wildcards.seed} --threads {threads}"
        " --out {output.samples} > {log} 2>&1"


rule select:
    input:
        samples=out("samples"),
        classifier=cell_classifier,
    output:
        selected=out("selected"),
    log:
        log_path("selected"),
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen select --classifier {input.classifier} --samples {input.samples}"
        " --out {output.selected} > {log} 2>&1"
