# Data sets: training sets (base images + the second component) and held-out images, each an .npz with its JSON
# card.


rule materialize:
    output:
        data=out("data"),
        card=out("card"),
    log:
        log_path("data"),
    params:
        base=dataset_spec,
        image_size=CFG.image_size,
        cifar_root=CFG.data.cifar_root,
    priority: DATA_PRIORITY
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen materialize --base {params.base:q} --n {wildcards.size} --seed {wildcards.seed}"
        " --image-size {params.image_size} --dummy {wildcards.dummy} --ndummy {wildcards.ndummy}"
        " --cifar-root {params.cifar_root:q} --out {output.data} --card {output.card} > {log} 2>&1"


rule materialize_heldout:
    output:
        data=out("heldout"),
        card=out("heldout").replace(".npz", ".json"),
    log:
        log_path("heldout"),
    params:
        base=dataset_spec,
        image_size=CFG.image_size,
        cifar_root=CFG.data.cifar_root,
    resources:
        **SMALL_JOB,
    conda:
        ENV
    shell:
        "python -m memgen materialize --heldout --base {params.base:q} --n {wildcards.size} --seed {wildcards.seed}"
        " --image-size {params.image_size} --cifar-root {params.cifar_root:q} --out {output.data}"
        " --card {output.card} > {log} 2>&1"
