# Studies beyond train -> sample -> score: the closed-form optimal denoiser, the loss gap, galleries, the
# criterion's validation, Table 1 and memorization-capacity estimates.


rule materialize_heldout:
    output:
        data=PATHS["heldout"],
        card=PATHS["heldout"].replace(".npz", ".json"),
    log:
        log_path("heldout"),
    params:
        base=dataset_base,
        image_size=config["image_size"],
        cifar_root=config["data"]["cifar_root"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen materialize --heldout --base {params.base:q} --n {wildcards.size} --seed {wildcards.seed}"
        " --image-size {params.image_size} --cifar-root {params.cifar_root:q} --out {output.data}"
        " --card {output.card} > {log} 2>&1"


rule sample_optimal:
    input:
        data=PATHS["data"],
    output:
        samples=PATHS["opt_samples"],
    log:
        log_path("opt_samples"),
    params:
        config=train_config_json_default,
        num_samples=config["sample"]["num_samples"],
        steps=config["sample"]["steps"],
    threads: stage_resources("sample")["threads"]
    resources:
        mem_mb=stage_resources("sample")["mem_mb"],
        runtime=stage_resources("sample")["runtime"],
        gpu=stage_resources("sample")["gpu"],
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen sample-optimal --train {input.data} --config {params.config:q}"
        " --num-samples {params.num_samples} --steps {params.steps} --seed {wildcards.seed} --threads {threads}"
        " --out {output.samples} > {log} 2>&1"


rule score_optimal:
    input:
        data=PATHS["data"],
        samples=PATHS["opt_samples"],
    output:
        scores=PATHS["opt_scores"],
        summary=PATHS["opt_summary"],
    log:
        log_path("opt_scores"),
    params:
        threshold=config["score"]["threshold"],
    threads: stage_resources("score")["threads"]
    resources:
        mem_mb=stage_resources("score")["mem_mb"],
        runtime=stage_resources("score")["runtime"],
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen score --train {input.data} --samples {input.samples}"
        " --threshold {params.threshold} --meta model=optimal --meta dataset={wildcards.dataset}"
        " --meta size={wildcards.size} --meta seed={wildcards.seed} --threads {threads}"
        " --out {output.scores} --summary {output.summary} > {log} 2>&1"


rule loss_gap:
    input:
        unpack(loss_gap_inputs),
    output:
        table=PATHS["loss_gap"],
    log:
        log_path("loss_gap"),
    params:
        checkpoints=loss_gap_checkpoints,
        levels=config["experiments"]["loss_gap"]["levels"],
        device=device_for("sample"),
    threads: stage_resources("sample")["threads"]
    resources:
        mem_mb=stage_resources("sample")["mem_mb"],
        runtime=stage_resources("sample")["runtime"],
        gpu=stage_resources("sample")["gpu"],
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen loss-gap --checkpoints {params.checkpoints}"
        " --train {input.train} --heldout {input.heldout} --levels {params.levels} --device {params.device}"
        " --threads {threads} --out {output.table} > {log} 2>&1"


rule gallery:
    input:
        data=data_of_cell,
        samples=PATHS["samples"],
        scores=PATHS["scores"],
    output:
        figure=report(PATHS["gallery"], caption="../report/gallery.rst", category="{experiment}"),
        table=PATHS["gallery_table"],
    log:
        log_path("gallery"),
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen gallery --samples {input.samples} --train {input.data} --scores {input.scores}"
        " --out {output.figure} --table {output.table} > {log} 2>&1"


rule criterion_pairs:
    input:
        samples=cell_paths_capacity_samples,
        train=cell_paths_capacity_data,
        scores=cell_paths_capacity_scores,
    output:
        figure=report(PATHS["criterion_pairs"], caption="../report/criterion_pairs.rst", category="criterion"),
        table=PATHS["criterion_table"],
        sweep=PATHS["sweep"],
        sweep_figure=report(PATHS["sweep_figure"], caption="../report/threshold_sweep.rst", category="criterion"),
    log:
        log_path("criterion_table"),
    params:
        threshold=config["score"]["threshold"],
        thresholds=" ".join(map(str, config["experiments"]["criterion_pairs"]["thresholds"])),
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen criterion-pairs --samples {input.samples} --train {input.train} --scores {input.scores}"
        " --threshold {params.threshold} --thresholds {params.thresholds} --out {output.figure}"
        " --table {output.table} --sweep {output.sweep} --sweep-figure {output.sweep_figure} > {log} 2>&1"


rule table1:
    output:
        table=PATHS["table1"],
        markdown=PATHS["table1_md"],
    log:
        log_path("table1"),
    params:
        config=json.dumps(config, sort_keys=True),
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen table1 --config {params.config:q} --out {output.table} --markdown {output.markdown}"
        " > {log} 2>&1"


rule capacity_estimates:
    input:
        table=expand(PATHS["table"], experiment="capacity"),
    output:
        table=PATHS["capacity_estimates"],
    log:
        log_path("capacity_estimates"),
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen capacity-estimates --table {input.table} --out {output.table} > {log} 2>&1"


rule classifier_data:
    output:
        data=PATHS["classifier_data"],
        card=PATHS["classifier_data"].replace(".npz", ".json"),
    log:
        log_path("classifier_data"),
    params:
        args=classifier_data_args,
        image_size=config["image_size"],
        cifar_root=config["data"]["cifar_root"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen materialize {params.args} --n {wildcards.size} --seed {wildcards.seed}"
        " --image-size {params.image_size} --cifar-root {params.cifar_root:q} --out {output.data}"
        " --card {output.card} > {log} 2>&1"


rule train_classifier:
    input:
        unpack(classifier_sets),
    output:
        model=PATHS["classifier"],
        metrics=PATHS["classifier_metrics"],
    log:
        log_path("classifier"),
    threads: stage_resources("score")["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        ENV
    shell:
        "OMP_NUM_THREADS={threads} python -m memgen train-classifier --a {input.base} --b {input.dummy}"
        " --name-a {wildcards.dataset} --name-b {wildcards.dummy} --seed {wildcards.seed} --threads {threads}"
        " --out {output.model} --metrics {output.metrics} > {log} 2>&1"


rule select:
    input:
        samples=PATHS["samples"],
        classifier=classifier_of_cell,
    output:
        selected=PATHS["selected"],
    log:
        log_path("selected"),
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen select --classifier {input.classifier} --samples {input.samples}"
        " --out {output.selected} > {log} 2>&1"
