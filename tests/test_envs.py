"""`--sdm conda`: every rule's environment installs every distribution its script imports,
directly or through the `hiref` modules it reaches, at exact versions (those this suite runs
with), from conda-forge only (`nodefaults`). `hiref` itself comes from the workflow's src/
(rules/common.smk), so no environment installs it.

The import analysis is static and conservative: it follows every import statement, at module
or function level, of the script and of each `hiref` module reached (`import hiref` reaches
the modules behind its lazy public names).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

SRC = ROOT / "src"
#: Imported at run time by a library rather than by our code: pandas' to_markdown (tabulate).
RUNTIME_EXTRAS = {"gather_tables.py": {"tabulate"}, "gather_gene_transfer.py": {"tabulate"}}


def rule_envs() -> dict[str, str]:
    """script file name -> env file name, for every rule with a `script:` (rules/*.smk)."""
    pairs = {}
    for smk in (ROOT / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text()):
            script = re.search(r'script:\s*\n\s*"\.\./scripts/([\w.]+)"', block)
            conda = re.search(r'conda:\s*\n\s*"\.\./envs/([\w.]+)"', block)
            if script:
                assert conda, f"{smk.name}: the rule running {script[1]} has no conda env"
                pairs[script[1]] = conda[1]
    return pairs


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def hiref_file(module: str) -> Path | None:
    path = SRC.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.exists():
            return candidate
    return None


def lazy_exports() -> set[str]:
    """The modules behind `hiref`'s lazy public names (hiref/__init__.py's _EXPORTS)."""
    tree = ast.parse((SRC / "hiref" / "__init__.py").read_text())
    exports = next(node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                   and getattr(node.targets[0], "id", None) == "_EXPORTS")
    return {ast.literal_eval(value) for value in exports.values}


def third_party_imports(script: Path) -> set[str]:
    """Top-level names of every non-hiref, non-stdlib module `script` may import."""
    seen, todo, found = set(), [script], set()
    while todo:
        names = imported_names(todo.pop())
        for name in names:
            parts = name.split(".")
            if parts[0] != "hiref":
                found.add(parts[0])
                continue
            modules = [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
            if name == "hiref":
                modules += sorted(lazy_exports())
            for module in modules:
                path = hiref_file(module)
                if path is not None and path not in seen:
                    seen.add(path)
                    todo.append(path)
    return {name for name in found if name not in sys.stdlib_module_names}


@functools.cache
def providers() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # scans every installed distribution


def distribution(import_name: str) -> str:
    dists = providers().get(import_name)
    assert dists, f"no installed distribution provides {import_name!r}"
    return normalise(dists[0])


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def env_file(name: str) -> dict:
    return yaml.safe_load((ROOT / "envs" / name).read_text())


def pip_pins(env: dict) -> dict[str, str]:
    """{distribution: exact version} of an env's pip section (every entry must be `==`)."""
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    pins = {}
    for requirement in pip:
        name, sep, version = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[\w,]+\])?(==)?(.*)",
                                      requirement).groups()
        assert sep == "==", f"not an exact pin: {requirement}"
        pins[normalise(name)] = version
    return pins


ENVS = rule_envs()


@pytest.mark.parametrize("script", sorted(ENVS))
def test_env_installs_what_the_script_imports(script):
    env = ENVS[script]
    needed = {distribution(name) for name in third_party_imports(ROOT / "scripts" / script)}
    needed |= RUNTIME_EXTRAS.get(script, set())
    missing = needed - set(pip_pins(env_file(env)))
    assert not missing, f"envs/{env} lacks {sorted(missing)} imported by scripts/{script}"


@pytest.mark.parametrize("name", sorted({*ENVS.values()}))
def test_env_pins_exactly_what_the_tests_run_with(name):
    env = env_file(name)
    assert env["channels"] == ["conda-forge", "nodefaults"]
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert f"python={sys.version_info.major}.{sys.version_info.minor}" in conda
    for dist, version in pip_pins(env).items():
        if dist == "hiref":
            pytest.fail("hiref comes from the workflow's src/, not from an env")
        installed = importlib.metadata.version(dist)
        # Local labels (torch's "+cpu") are builds of the same release.
        assert installed.split("+")[0] == version, (name, dist, version, installed)
