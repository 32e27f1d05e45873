# Figures and galleries read only the tidy tables and the images, so restyling a figure never reruns scoring.


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(out("figure"), caption="../report/figures.rst", category="{study}"),
        table=out("figure_table"),
    log:
        log_path("figure"),
    params:
        args=figure_args,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen figure {wildcards.figure} {params.args} --out {output.figure} --table {output.table}"
        " > {log} 2>&1"


rule gallery:
    input:
        data=cell_data,
        samples=cell_samples,
        scores=out("scores"),
    output:
        figure=report(out("gallery"), caption="../report/gallery.rst", category="{study}"),
        table=out("gallery_table"),
    log:
        log_path("gallery"),
    params:
        threshold=CFG.score.threshold,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen gallery --samples {input.samples} --train {input.data} --scores {input.scores}"
        " --threshold {params.threshold} --out {output.figure} --table {output.table} > {log} 2>&1"
