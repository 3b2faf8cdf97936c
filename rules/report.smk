# Tables from the run records, figures, and the captions of the HTML report.


rule gather_tables:
    input:
        records=lambda wc: run_records(wc.experiment),
    output:
        csv=report(
            "results/tables/{experiment}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"experiment": "{experiment}", "format": "csv"},
        ),
        markdown="results/tables/{experiment}.md",
        runs="results/tables/{experiment}_runs.csv",
    log:
        "results/logs/gather_tables/{experiment}.log",
    benchmark:
        "results/benchmarks/gather_tables/{experiment}.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        experiment=lambda wc: wc.experiment,
        cost=lambda wc: config["experiments"][wc.experiment]["cost"],
    script:
        "../scripts/gather_tables.py"


rule plot_runtime_scaling:
    input:
        runs=lambda wc: f"results/tables/{config['figures']['runtime_scaling']}_runs.csv",
    output:
        png=report(
            "results/figures/runtime_scaling.png",
            caption="../report/runtime_scaling.rst",
            category="Figures",
            labels={"figure": "runtime scaling"},
        ),
        pdf="results/figures/runtime_scaling.pdf",
        # What the figure draws, ours and the paper's where its settings match.
        csv="results/figures/runtime_scaling.csv",
    log:
        "results/logs/plot_runtime_scaling.log",
    benchmark:
        "results/benchmarks/plot_runtime_scaling.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/plot_runtime_scaling.py"


rule plot_alignment:
    input:
        unpack(alignment_inputs),
    output:
        png=report(
            "results/figures/alignment_{dataset}.png",
            caption="../report/alignment.rst",
            category="Figures",
            labels={"figure": "alignment", "dataset": "{dataset}"},
        ),
        pdf="results/figures/alignment_{dataset}.pdf",
    log:
        "results/logs/plot_alignment/{dataset}.log",
    benchmark:
        "results/benchmarks/plot_alignment/{dataset}.tsv"
    # Light step: on a cluster it runs where Snakemake runs, not as a job.
    localrule: True
    conda:
        "../envs/report.yaml"
    params:
        methods=config["figures"]["alignment_methods"],
        lines=config["figures"]["alignment_lines"],
    script:
        "../scripts/plot_alignment.py"
