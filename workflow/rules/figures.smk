# Figures and galleries read only the tidy tables and the images, so restyling a figure never reruns scoring.


rule figure:
    input:
        unpack(figure_inputs),
    output:
        figure=report(out("figure"), caption="../report/figures.rst", category="{study}"),
    log:
        log_path("figure"),
    params:
        reference=reference_arg,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen figure {wildcards.figure} --table {input.table} {params.reference}"
        " --out {output.figure} > {log} 2>&1"


rule gallery:
    input:
        data=cell_data,
        samples=out("samples"),
        scores=out("scores"),
    output:
        figure=report(out("gallery"), caption="../report/gallery.rst", category="{study}"),
        table=out("gallery_table"),
    log:
        log_path("gallery"),
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen gallery --samples {input.samples} --train {input.data} --scores {input.scores}"
        " --out {output.figure} --table {output.table} > {log} 2>&1"


rule criterion_pairs:
    input:
        unpack(criterion_inputs),
    output:
        figure=report(out("pairs_figure"), caption="../report/criterion_pairs.rst", category="{study}"),
        table=out("pairs_table"),
        sweep=out("sweep"),
        sweep_figure=report(out("sweep_figure"), caption="../report/threshold_sweep.rst", category="{study}"),
    log:
        log_path("pairs_table"),
    params:
        threshold=CFG.score.threshold,
        thresholds=criterion_thresholds,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen criterion-pairs --samples {input.samples} --train {input.train} --scores {input.scores}"
        " --threshold {params.threshold} --thresholds {params.thresholds} --out {output.figure}"
        " --table {output.table} --sweep {output.sweep} --sweep-figure {output.sweep_figure} > {log} 2>&1"


rule cell_loss_figure:
    input:
        table=out("cell_losses"),
    output:
        figure=report(out("cell_loss_figure"), caption="../report/figures.rst", category="{study}"),
    log:
        log_path("cell_loss_figure"),
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen figure loss_gap --table {input.table} --out {output.figure} > {log} 2>&1"
