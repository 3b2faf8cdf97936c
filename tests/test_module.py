"""The workflow used as a Snakemake module by another project: imported from a Snakefile in a
temporary folder (`module ...; use rule * from ... as hw_*`), run to its table with
PYTHONPATH unset, with its own `hiref` (src/), its light rules still local, and no heavy
library imported into Snakemake's own process while parsing and building the DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SESSION_ENV, background_run

PROJECT = {
    "run": ["tiny"],
    "experiments": {
        "tiny": {
            "datasets": ["halfmoon_scurve"], "n": [64], "seeds": [0],
            "methods": ["hiref", "exact"],
        },
    },
    "figures": {"runtime_scaling": None, "alignment": None},
}
IMPORTING_SNAKEFILE = f"""\
configfile: "project.yaml"


module hiref_workflow:
    snakefile:
        "{ROOT / 'Snakefile'}"
    config:
        config


use rule * from hiref_workflow as hw_*
"""
HEAVY = ("jax", "sklearn", "torch", "ott", "ot", "scanpy")


def without_pythonpath(environ=os.environ) -> dict:
    return {k: v for k, v in environ.items() if k != "PYTHONPATH"}


def python(code: str, cwd, environ=os.environ):
    """Runs ``code`` in a fresh interpreter without PYTHONPATH; returns its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd,
        env=without_pythonpath(environ), capture_output=True, text=True, timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def make_project(folder):
    """The importing project: its Snakefile and configuration."""
    folder.mkdir()
    (folder / "Snakefile").write_text(IMPORTING_SNAKEFILE)
    (folder / "project.yaml").write_text(yaml.safe_dump(PROJECT))
    return folder


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


@background_run
def imported_run(folder):
    """The project runs the imported workflow (in the background: tests/conftest.py)."""
    project = make_project(folder / "project")
    python(
        """
        import sys
        from snakemake.cli import main
        sys.argv = ["snakemake", "--cores", "2", "--resources", "gpu=0"]
        main()
        """,
        project,
        SESSION_ENV,
    )
    return project


@pytest.mark.slow
def test_imported_workflow_runs_to_its_table(imported_run):
    project = imported_run
    table = pd.read_csv(project / "results/tables/tiny.csv")
    assert set(table["method"]) == {"hiref", "exact"} and (table["runs"] == 1).all()
    spans = []
    for method in ("hiref", "exact"):
        run = f"tiny/halfmoon_scurve/{method}/n64_seed0"
        first_line = (project / f"results/logs/solve_ot/{run}.log").read_text().splitlines()[0]
        # The jobs imported the workflow's own package, not whatever the caller has installed.
        assert f"from {ROOT / 'src' / 'hiref'}," in first_line
        started = float(first_line.rsplit("started at ", 1)[1])
        spans.append((started, (project / f"results/runs/{run}.json").stat().st_mtime))
    # Timed solver jobs take every core: with --cores 2 the two never overlapped.
    first, second = sorted(spans)
    assert first[1] <= second[0], spans
    hiref = json.loads(
        (project / "results/runs/tiny/halfmoon_scurve/hiref/n64_seed0.json").read_text()
    )
    assert hiref["status"] == "ok" and hiref["device"].startswith("cpu")


def test_parsing_imports_no_heavy_library(project):
    """`snakemake -n` (parse, validate, build the DAG) loads neither JAX, scikit-learn nor
    torch into Snakemake's process: the package's __init__ is lazy."""
    out = python(
        f"""
        import atexit, json, sys
        atexit.register(lambda: print("LOADED", json.dumps(
            [m for m in {HEAVY!r} if m in sys.modules])))
        from snakemake.cli import main
        sys.argv = ["snakemake", "-n", "--quiet", "rules"]
        main()
        """,
        project,
    )
    assert json.loads(out.split("LOADED")[-1]) == []


def test_light_rules_stay_local_under_their_new_names(project):
    """Per-rule `localrule: True` follows `use rule ... as hw_*` (a global `localrules:`
    list would not): downloads and tables never become cluster jobs."""
    out = python(
        """
        from pathlib import Path
        from snakemake.api import SnakemakeApi
        from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

        with SnakemakeApi(OutputSettings()) as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                snakefile=Path("Snakefile"), workdir=Path("."),
            )._workflow
            print("LOCAL", " ".join(sorted(workflow._localrules)))
        """,
        project,
    )
    local = set(out.split("LOCAL")[-1].split())
    assert {"hw_retrieve", "hw_gather_tables", "hw_plot_runtime_scaling", "hw_plot_alignment",
            "hw_gather_gene_transfer"} <= local
    assert "hw_solve_ot" not in local and "hw_embed_images" not in local


def test_public_names_resolve_lazily():
    import hiref

    assert set(hiref.__all__) == set(hiref._EXPORTS)
    for name in hiref.__all__:
        assert getattr(hiref, name) is not None and name in dir(hiref)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hiref.nope  # noqa: B018
