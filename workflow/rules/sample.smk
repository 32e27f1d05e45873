# Draw samples: a sample set from a checkpoint's EMA or raw weights (per class for class-conditional models), once for
# every cell of every study that scores it (the path names it: memgen/studies/sample_set.py); from the closed-form
# optimal denoiser of a training set.


rule sample:
    input:
        model=sample_model,
    output:
        samples=out("samples"),
        card=out("sample_card"),
    log:
        log_path("samples"),
    benchmark:
        bench_path("samples")
    params:
        args=sample_args,
        checkpoint=sample_checkpoint,
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
        " --checkpoint {params.checkpoint} {params.args} --batch-size {params.batch_size}"
        " --precision {params.precision} --compile {params.compile} --device {params.device} --threads {threads}"
        " --out {output.samples} --card {output.card} > {log} 2>&1"


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
