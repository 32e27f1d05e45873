# Tables: every table a study derives (its record's `Table`s: the replicate table of its cells first, then its own),
# from the files its hooks name, by the function its record names. One rule for every study and table.


rule derive:
    input:
        unpack(table_inputs),
    output:
        table=out("table"),
        markdown=out("table_md"),
    log:
        log_path("table"),
    params:
        args=table_args,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen derive {wildcards.study} {wildcards.table} {params.args} --out {output.table}"
        " --markdown {output.markdown} > {log} 2>&1"
