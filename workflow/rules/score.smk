# Score samples against their training set with the ratio criterion and the four-way outcome (the grid travels as
# columns).


rule score:
    input:
        data=cell_data,
        card=cell_card,
        samples=cell_samples_to_score,
        heldout=cell_heldout,
    output:
        scores=out("scores"),
        summary=out("summary"),
    log:
        log_path("scores"),
    params:
        threshold=CFG.score.threshold,
        meta=cell_meta,
        sample_set=cell_sample_set,
        heldout=heldout_arg,
        device=device_for("score"),
        slots=gpu_slots("score"),
    threads: stage_threads("score")
    resources:
        **stage_resources("score"),
    conda:
        ENV
    shell:
        "MEMGEN_GPU_SLOTS={params.slots} OMP_NUM_THREADS={threads} python -m memgen score --train {input.data}"
        " --samples {input.samples} --sample-set {params.sample_set} --threshold {params.threshold} {params.meta}"
        " --card {input.card} {params.heldout}"
        " --device {params.device} --threads {threads} --out {output.scores} --summary {output.summary} > {log} 2>&1"


rule score_optimal:
    input:
        data=out("data"),
        card=out("card"),
        samples=out("opt_samples"),
    output:
        scores=out("opt_scores"),
        summary=out("opt_summary"),
    log:
        log_path("opt_scores"),
    params:
        threshold=CFG.score.threshold,
    threads: stage_threads("score")
    resources:
        **fixed_resources("score"),
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen score --train {input.data} --samples {input.samples}"
        " --threshold {params.threshold} --meta model=optimal --meta dataset={wildcards.dataset}"
        " --meta size={wildcards.size} --meta seed={wildcards.seed} --card {input.card} --threads {threads}"
        " --out {output.scores} --summary {output.summary} > {log} 2>&1"
