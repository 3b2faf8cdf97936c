"""The README's commands, as written, and the workflow's configuration checks and provenance.

Every shell command the README shows is exercised here: `snakemake` commands as dry runs
(`-n`) in a fresh folder shaped like the checkout (its `config/` and `profiles/`, no
`results/`), `make` targets with `make --dry-run`, the install lines against the Makefile's recipe,
and scripts' flags against their `--help`. Nothing reads or writes the checkout's results/.
"""

from __future__ import annotations

import functools
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, run_snakemake

README = (ROOT / "README.md").read_text()
#: Fragments a README command's output must hold (besides succeeding).
EXPECT = {
    "snakemake -n": ["simulate_points", "solve_ot", "gather_tables", "plot_runtime_scaling",
                     "plot_alignment"],
    "snakemake --cores all --resources gpu=1 --configfile config/paper.yaml": ["n1048576"],
    "snakemake --lint": ["good condition"],
}


def readme_commands() -> list[str]:
    """Shell commands of the README: lines of ```bash blocks and of indented blocks that
    start with `snakemake` or `.venv/bin/python`, continuation lines joined, comments cut."""
    chunks = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
    chunks += re.findall(r"^    ((?:snakemake|\.venv/bin/python) (?:.*\\\n)*.*)$", README,
                         re.MULTILINE)
    commands = []
    for chunk in chunks:
        for line in re.sub(r"\\\n\s*", " ", chunk).splitlines():
            for command in re.sub(r"\s#.*", "", line).split("&&"):
                if command.strip():
                    commands.append(" ".join(command.split()))
    return list(dict.fromkeys(commands))


def make_dry(*args: str) -> str:
    """The commands `make args` would run, whether or not .venv is up to date."""
    proc = subprocess.run(["make", "--dry-run", "--always-make", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@functools.cache
def snakemake_in_checkout_copy(args: tuple[str, ...]):
    """Runs snakemake in a fresh folder holding links to the checkout's config/ and profiles/
    (what a user's clone has, minus results/); once per distinct command."""
    with tempfile.TemporaryDirectory(prefix="hiref-readme-") as tmp:
        for folder in ("config", "profiles"):
            (Path(tmp) / folder).symlink_to(ROOT / folder)
        return run_snakemake(*args, workdir=Path(tmp))


COMMANDS = readme_commands()


def test_readme_shows_the_commands_users_need():
    for command in ("make run", "make test", "snakemake --cores all --resources gpu=1",
                    "snakemake --cores all --resources gpu=0", "snakemake --profile profiles/slurm",
                    "--configfile config/paper.yaml", "snakemake --report results/report.html",
                    "make gpu-check"):
        assert any(command in c for c in COMMANDS), command


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_works_as_written(command):
    words = shlex.split(command)
    if words[0] == "make":
        make_dry(*words[1:])
    elif words[:3] == ["python3", "-m", "venv"] or words[0] == "source":
        # `make install` creates .venv and calls its tools by path (same effect as activate).
        assert "python3 -m venv .venv" in make_dry("install")
        assert ".venv/bin/python -m pip" in make_dry("install")
    elif words[0] == "pip":
        assert f".venv/bin/python -m {command}" in make_dry("install")
    elif words[0] == ".venv/bin/python":
        help_text = subprocess.run([sys.executable, words[1], "--help"], cwd=ROOT,
                                   capture_output=True, text=True, check=True).stdout
        for flag in (w for w in words[2:] if w.startswith("--")):
            assert flag in help_text, (command, flag)
    elif words[0] == "snakemake":
        args = words[1:]
        if "--report" in args:  # needs results: run for real after a real run
            source = (ROOT / "tests" / "test_workflow_run.py").read_text()
            assert '"--report", "results/report.html"' in source
            return
        if "--sdm" in args and shutil.which("conda") is None:
            # No conda here: the envs are checked statically (tests/test_envs.py).
            args = [a for a in args if a not in ("--sdm", "conda")]
        if "--lint" not in args:
            args = ["-n", *args]
        proc = snakemake_in_checkout_copy(tuple(args))
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]
        for fragment in EXPECT.get(command, []):
            assert fragment in output, (command, fragment)
    else:
        pytest.fail(f"README command not exercised by any test: {command}")


def test_snakemake_files_are_formatted():
    """snakefmt (line length 100, pyproject.toml) leaves the Snakefile and rules/ unchanged;
    `snakefmt Snakefile rules` fixes them (`make lint` checks the same)."""
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    proc = subprocess.run([snakefmt, "--check", "Snakefile", "rules"], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]


BAD_CONFIGS = {
    # A schema violation, an experiment setting and a method label: each stops the run while
    # the workflow is parsed, with one line naming the key path and no schema dump.
    "unknown top-level key": ({"colour": "red"},
                              "config: Additional properties are not allowed ('colour'"),
    "experiment setting": ({"experiments": {"synthetic": {"settings": {"hiref": {"max_rank":
                                                                                  "big"}}}}},
                           "experiments.synthetic.settings.hiref.max_rank: 'big' is not of"),
    "label": ({"experiments": {"synthetic": {"methods": ["minibatch-0"]}}},
              "experiments.synthetic.methods[minibatch-0].batch_size: 0 is less than"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_configs_are_rejected_before_any_job(case, write_config):
    change, fragment = BAD_CONFIGS[case]
    # Merged over config/config.yaml (the Snakefile's configfile), as a user's file would be.
    result = run_snakemake("-n", "--configfile", str(write_config(change)))
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Building DAG" not in text  # rejected while parsing, before any job exists
    assert fragment in text, text[-2000:]
    assert "$defs" not in text and len(text.splitlines()) < 15, text  # never the schema


def test_failed_writes_leave_no_output(tmp_path):
    from hiref import provenance

    target = tmp_path / "record.json"
    with pytest.raises(RuntimeError), provenance.atomic_path(target) as tmp:
        tmp.write_text("{half")
        raise RuntimeError("job died")
    assert list(tmp_path.iterdir()) == []
    provenance.write_json(target, {"a": 1})
    assert target.read_text().startswith("{")


def test_provenance_fields():
    from hiref import provenance

    versions = provenance.versions()
    assert versions["ott-jax"] == "0.6.0" and versions["POT"] == "0.9.7"
    assert provenance.peak_rss_mb() > 10
    assert provenance.device(uses_jax=True).startswith(("cpu", "gpu", "cuda", "tpu"))
    commit = provenance.git_commit(ROOT)
    assert commit is None or len(commit.split("-")[0]) == 40
