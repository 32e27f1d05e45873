# One tidy table per experiment: every cell x class with its replicate fraction, Wilson interval,
# replicated training images, steps and epochs per image.


rule aggregate:
    input:
        summaries=experiment_summaries,
    output:
        table=PATHS["table"],
        markdown=PATHS["table_md"],
    log:
        log_path("table"),
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen aggregate --summaries {input.summaries} --out {output.table}"
        " --markdown {output.markdown} > {log} 2>&1"
