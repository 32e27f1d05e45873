# Figures read only the tidy tables, so restyling a figure never reruns scoring.


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(PATHS["figure"], caption="../report/figures.rst", category="{experiment}"),
    log:
        log_path("figure"),
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    params:
        reference=lambda wildcards, input: f"--reference {input.reference}" if input.reference else "",
    shell:
        "python -m memgen figure {wildcards.figure} --table {input.table} {params.reference}"
        " --out {output.figure} > {log} 2>&1"
