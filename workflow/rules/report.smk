# The report's first page: every selected study's comparisons (each claim, its parts and its verdict, coloured by
# class) and the figures the records mark for the front, on one HTML page (`memgen answers`). `snakemake --report`
# lists it under "Answers", and workflow/report/workflow.rst embeds it on the landing page. Which studies and
# figures: memgen/studies/front.py asks the records (inputs and arguments: common.smk); no study is named here.


rule answers:
    input:
        unpack(answers_inputs),
    output:
        page=report(out("answers"), caption="../report/answers.rst", category="Answers"),
    log:
        log_path("answers"),
    params:
        args=answers_args,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen answers {params.args} --out {output.page:q} > {log:q} 2>&1"
