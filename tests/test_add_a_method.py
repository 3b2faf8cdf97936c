"""docs/add-a-method.md as written: its toy module and its one registry line (the
``HIREF_METHODS`` environment hook) register a method that the schema, the documentation,
the cluster requests, legends and ``.npz`` keys know, and that the workflow, in separate job
processes, runs to a table row."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SESSION_ENV, background_run, run_snakemake

DOC = (ROOT / "docs" / "add-a-method.md").read_text()
MODULE = re.search(r"## The module\n\n```python\n(.*?)```", DOC, re.DOTALL)[1]
COMMAND = re.search(r"```shell\n(.*?)\n```", DOC, re.DOTALL)[1]
CONFIG = re.search(r"```yaml\n(.*?)```", DOC, re.DOTALL)[1]
#: The command's leading VAR=value words (the registry line, the module's folder), and the
#: arguments of its `snakemake`.
ENV = dict(word.split("=", 1) for word in shlex.split(COMMAND.split(" snakemake ")[0]))
ARGS = shlex.split(COMMAND.split(" snakemake ")[1])


def make_project(folder):
    """A folder shaped like the checkout (its config/) with the page's my_methods/: the toy
    module and the configuration."""
    (folder / "config").symlink_to(ROOT / "config")
    (folder / "my_methods").mkdir()
    (folder / "my_methods/projection.py").write_text(MODULE)
    (folder / "my_methods/projection.yaml").write_text(CONFIG)
    return folder


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path)


@background_run
def toy_run(folder):
    """The page's command in the project (in the background: tests/conftest.py)."""
    project = make_project(folder)
    return project, run_snakemake(*ARGS, workdir=project, env=ENV, environ=SESSION_ENV)


def test_the_page_registers_one_module_by_one_line():
    assert ENV["HIREF_METHODS"] == "projection:PROJECTION"
    assert '"hiref.methods.projection:PROJECTION",' in DOC


def test_the_registry_reads_the_toy_spec_everywhere(project):
    """In a process started with the registry line: the generated schema accepts the page's
    configuration, documents the toy's setting and refuses a value below its limit, and
    resources, legends and .npz keys read its spec."""
    code = """if True:
        from hiref import records, resources, workflow_config as wc
        from hiref.report import figures
        schema = wc.load_schema(sys.argv[1])
        config = yaml.safe_load(open("my_methods/projection.yaml"))
        wc.validate(copy.deepcopy(config), schema)
        config["methods"]["projection"]["directions"] = 0
        try:
            wc.validate(config, schema)
        except wc.ConfigError as err:
            refused = str(err)
        print(json.dumps({
            "docs": wc.keys_markdown(schema), "refused": refused,
            "legend": figures.LEGEND_NAMES["projection"], "npz": records.NPZ_KEYS,
            "mem": resources.solver_mem_mb("projection", 2**20, 2, 1, 4000),
            "hiref_mem": resources.solver_mem_mb("hiref", 2**20, 2, 1, 4000),
        }))
    """
    out = subprocess.run(
        [sys.executable, "-c", "import copy, json, sys, yaml\n" + code, str(ROOT / "config/schema.yaml")],
        capture_output=True, text=True, check=True, cwd=project,
        env={**os.environ, **ENV, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ENV['PYTHONPATH']}"},
    )
    seen = json.loads(out.stdout)
    assert "| `methods.projection.directions` | `4` | Random directions tried;" in seen["docs"]
    assert "Method names: hiref, hiref_refined," in seen["docs"]
    assert "bspot, projection." in seen["docs"]
    assert "methods.projection.directions: 0 is less than the minimum of 1" in seen["refused"]
    assert seen["legend"] == "projection matching (toy)"
    assert "perm" in seen["npz"]
    assert seen["mem"] == seen["hiref_mem"]  # linear memory, like HiRef's


@pytest.mark.slow
def test_the_workflow_runs_the_toy_method_to_a_table_row(toy_run):
    project, proc = toy_run
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    table = pd.read_csv(project / "results/tables/projection_demo.csv").set_index("method")
    assert list(table.index) == ["exact", "projection-1", "projection-16"]
    assert (table["runs"] == 1).all() and (table["estimator"] != "").all()
    one, sixteen = table.loc["projection-1"], table.loc["projection-16"]
    # A bijection cannot beat exact OT; 16 directions include the single one (same seed).
    assert 1 <= sixteen["ratio_to_exact_mean"] <= one["ratio_to_exact_mean"]
    run = project / "results/runs/projection_demo/halfmoon_scurve/projection-16/n512_seed0"
    record = json.loads(run.with_suffix(".json").read_text())
    assert record["params"] == {"directions": 16, "max_n": None, "cost": "sqeuclidean"}
    assert record["estimator"].startswith("projection matching (toy)")
    assert record["compile_seconds"] is None and record["device"].startswith("cpu")
    with np.load(run.with_suffix(".npz")) as arrays:
        assert sorted(arrays["perm"]) == list(range(512))
