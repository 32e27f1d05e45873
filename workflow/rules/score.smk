# Score a cell's samples against its training set with the ratio criterion; the grid travels as columns.


rule score:
    input:
        data=data_of_cell,
        samples=samples_to_score,
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
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen score --train {input.data} --samples {input.samples}"
        " --threshold {params.threshold} {params.meta} --device {params.device} --threads {threads}"
        " --out {output.scores} --summary {output.summary} > {log} 2>&1"
