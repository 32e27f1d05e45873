# A study's own kinds of jobs: one rule per kind, made here from the records (memgen/studies/job.py), each named
# after its kind and running `memgen job <kind>`, which calls the function the record names with the files and
# parameters its hooks give (inputs, arguments, resources: common.smk). No kind and no study is named here.
from memgen.studies import job_kinds


for _job in job_kinds().values():

    rule:
        name:
            _job.name
        input:
            unpack(JobInputs(_job)),
        output:
            **job_outputs(_job),
        log:
            job_log(_job),
        params:
            args=JobArgs(_job),
            compute=job_compute(_job),
            slots=job_slots(_job),
        threads: job_threads(_job)
        resources:
            **job_resources(_job),
        conda:
            ENV
        shell:
            "MEMGEN_GPU_SLOTS={params.slots} OMP_NUM_THREADS={threads} python -m memgen job {params.args}"
            " {params.compute} --threads {threads} > {log} 2>&1"
