# Draw samples from a cell's EMA weights (per class for class-conditional models).


rule sample:
    input:
        model=model_of_cell,
    output:
        samples=PATHS["samples"],
    log:
        log_path("samples"),
    benchmark:
        bench_path("samples")
    params:
        counts=sample_args,
        checkpoint=checkpoint_of_cell,
        steps=config["sample"]["steps"],
        batch_size=config["sample"]["batch_size"],
        device=device_for("sample"),
    threads: stage_resources("sample")["threads"]
    resources:
        mem_mb=stage_resources("sample")["mem_mb"],
        runtime=stage_resources("sample")["runtime"],
        gpu=stage_resources("sample")["gpu"],
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen sample --checkpoint {params.checkpoint}"
        " {params.counts} --steps {params.steps} --seed {wildcards.seed}"
        " --batch-size {params.batch_size} --device {params.device} --threads {threads}"
        " --out {output.samples} > {log} 2>&1"
