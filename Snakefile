# Hierarchical Refinement OT: synthetic benchmarks, baselines, tables and figures.
# Usage: README.md and docs/cluster.md. Configuration: config/config.yaml, documented in config/schema.yaml.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/embedding.smk"
include: "rules/synthetic.smk"
include: "rules/solve.smk"
include: "rules/shard.smk"
include: "rules/report.smk"
include: "rules/data.smk"
include: "rules/warmstart.smk"
include: "rules/clustering.smk"


# After every include: experiments may only name registered datasets and known methods.
check_experiments()


rule all:
    default_target: True
    input:
        final_outputs,
        data_outputs,
