# Materialize one training set: base images (+ dummies) as .npz with a JSON card.


rule materialize:
    output:
        data=PATHS["data"],
        card=PATHS["card"],
    log:
        log_path("data"),
    params:
        base=dataset_base,
        image_size=config["image_size"],
        cifar_root=config["data"]["cifar_root"],
    priority: DATA_PRIORITY
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        ENV
    shell:
        "python -m memgen materialize --base {params.base:q} --n {wildcards.size} --seed {wildcards.seed}"
        " --image-size {params.image_size} --dummy {wildcards.dummy} --dummy-count {wildcards.ndummy}"
        " --cifar-root {params.cifar_root:q} --out {output.data} --card {output.card} > {log} 2>&1"
