# Score samples against their training set with the ratio criterion (the grid travels as columns), and evaluate
# models: the denoising loss per noise level on training vs held-out images (Kaiser & Kollmann).


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
        " --samples {input.samples} --threshold {params.threshold} {params.meta} --card {input.card} {params.heldout}"
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
        **optimal_resources("score"),
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen score --train {input.data} --samples {input.samples}"
        " --threshold {params.threshold} --meta model=optimal --meta dataset={wildcards.dataset}"
        " --meta size={wildcards.size} --meta seed={wildcards.seed} --card {input.card} --threads {threads}"
        " --out {output.scores} --summary {output.summary} > {log} 2>&1"


rule loss_by_level:
    input:
        unpack(loss_inputs),
    output:
        table=out("losses"),
    log:
        log_path("losses"),
    params:
        args=loss_args,
        device=device_for("sample"),
    threads: stage_threads("sample")
    resources:
        **stage_resources("sample"),
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen loss-gap {params.args}"
        " --train {input.train} --heldout {input.heldout} --device {params.device}"
        " --threads {threads} --out {output.table} > {log} 2>&1"


rule agreement:
    input:
        unpack(agreement_inputs),
    output:
        table=out("agreement"),
        pairs=out("agreement_pairs"),
    log:
        log_path("agreement"),
    params:
        grid=agreement_grid,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen agreement --samples-a {input.samples_a} --samples-b {input.samples_b}"
        " --train-a {input.train_a} --train-b {input.train_b} --scores-a {input.scores_a}"
        " --scores-b {input.scores_b} {params.grid} --out {output.table}"
        " --pairs {output.pairs} > {log} 2>&1"


rule loss_by_level_cell:
    input:
        unpack(cell_loss_inputs),
    output:
        table=out("cell_losses"),
    log:
        log_path("cell_losses"),
    params:
        levels=cell_loss_levels,
        device=device_for("sample"),
    threads: stage_threads("sample")
    resources:
        **optimal_resources("sample"),
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen loss-gap --checkpoints {input.model} --levels {params.levels}"
        " --train {input.train} --heldout {input.heldout} --device {params.device} --threads {threads}"
        " --out {output.table} > {log} 2>&1"
