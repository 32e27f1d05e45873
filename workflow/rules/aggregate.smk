# Tables: one tidy table per study (every cell x class: replicate fraction with its Wilson interval, replicated
# training images, steps, epochs per image), and the tables built from it or from the config.


rule aggregate:
    input:
        summaries=study_summaries,
    output:
        table=out("table"),
        markdown=out("table_md"),
    log:
        log_path("table"),
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen aggregate --summaries {input.summaries} --out {output.table}"
        " --markdown {output.markdown} > {log} 2>&1"


rule capacity_estimates:
    input:
        table=out("table"),
    output:
        table=out("capacity_estimates"),
    log:
        log_path("capacity_estimates"),
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen capacity-estimates --table {input.table} --out {output.table} > {log} 2>&1"


rule hyperparameters:
    output:
        table=out("hyperparameters"),
        markdown=out("hyperparameters_md"),
    log:
        log_path("hyperparameters"),
    params:
        config=json.dumps(CFG.to_dict(), sort_keys=True),
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen table1 --config {params.config:q} --out {output.table} --markdown {output.markdown}"
        " > {log} 2>&1"


rule dichotomy_table:
    input:
        tables=dichotomy_inputs,
    output:
        table=out("dichotomy_table"),
    log:
        log_path("dichotomy_table"),
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen dichotomy --tables {input.tables} --out {output.table} > {log} 2>&1"
