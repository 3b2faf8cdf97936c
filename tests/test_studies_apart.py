"""The two studies (hiref.studies) stay apart: the solver, the methods, the reproduction's
reports and their scripts never import them, neither by an import statement nor at run time
(a registry line or importlib)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

from conftest import ROOT

SRC = ROOT / "src"
STUDIES = SRC / "hiref" / "studies"
STUDY_RULES = ("warmstart.smk", "warmstart_common.smk", "clustering.smk", "clustering_common.smk")
#: A module path naming a study, as an import or as a string handed to importlib.
STUDY_MODULE = re.compile(r"hiref\.studies(\.\w+)*(:\w+)?")


def core_modules() -> list[str]:
    """Every module of src/hiref outside hiref.studies, by file (nothing imported)."""
    names = []
    for path in sorted((SRC / "hiref").rglob("*.py")):
        if STUDIES in path.parents:
            continue
        parts = path.relative_to(SRC).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def script_names(rules_file) -> set[str]:
    return set(re.findall(r'"\.\./scripts/(\w+\.py)"', rules_file.read_text()))


def core_scripts() -> list:
    """scripts/ that a rule outside the studies' rules files runs, or that no rule runs."""
    rules = ROOT / "rules"
    study_only = set().union(*(script_names(rules / name) for name in STUDY_RULES))
    study_only -= set().union(
        *(script_names(path) for path in rules.glob("*.smk") if path.name not in STUDY_RULES)
    )
    return [path for path in sorted((ROOT / "scripts").glob("*.py")) if path.name not in study_only]


def study_references(path) -> list[str]:
    """Imports of hiref.studies in a file, and string constants that name one of its
    modules (for importlib or a registry line)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return sorted({name for name in found if STUDY_MODULE.fullmatch(name)})


def test_no_core_file_names_a_study_module():
    files = [path for path in (SRC / "hiref").rglob("*.py") if STUDIES not in path.parents]
    files += core_scripts() + sorted((ROOT / "bench").glob("*.py"))
    assert len(files) > 40 and (ROOT / "scripts" / "solve_ot.py") in files
    offenders = {str(p.relative_to(ROOT)): refs for p in files if (refs := study_references(p))}
    assert offenders == {}


def test_the_check_sees_a_study_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('import importlib\nfrom hiref.studies.warmstart import model\n'
                     'importlib.import_module("hiref.studies.clustering.p2ot")\n')
    assert study_references(probe) == ["hiref.studies.clustering.p2ot",
                                       "hiref.studies.warmstart", "hiref.studies.warmstart.model"]


def test_importing_every_core_module_loads_no_study():
    """Run time: every module outside the studies imported in a fresh interpreter (the
    method registry loads its specifications); no hiref.studies module is then loaded."""
    modules = core_modules()
    assert "hiref.solver" in modules and "hiref.methods" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('hiref.studies')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


STUDY_SNAKEFILE = """\
configfile: "{root}/config/config.yaml"
include: "{root}/rules/common.smk"
{includes}
rule all:
    input: [target for targets in STUDIES.values() for target in targets]
"""


def test_study_rules_need_neither_data_rules_nor_an_include_order(tmp_path):
    """The studies' rules files plan their default targets with only rules/common.smk before
    them (no rules/data.smk), and before the data rules; the configuration is not changed."""
    for name, includes in {
        "alone": ["warmstart.smk", "clustering.smk"],
        "before_data": ["clustering.smk", "warmstart.smk", "data.smk", "synthetic.smk"],
    }.items():
        snakefile = tmp_path / f"{name}.smk"
        snakefile.write_text(STUDY_SNAKEFILE.format(
            root=ROOT, includes="\n".join(f'include: "{ROOT}/rules/{f}"' for f in includes)))
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(tmp_path), "-n",
             "--quiet", "rules"],
            capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
        text = result.stdout + result.stderr
        assert result.returncode == 0, (name, text[-3000:])
        for rule in ("extract_palettes", "evaluate_warmstart", "cluster",
                     "gather_clustering_table"):
            assert rule in text, (name, rule)
