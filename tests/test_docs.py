"""The documentation, as written: its commands work, its links resolve, its example runs and
it names every rule.

Every shell command of the README and of docs/*.md is exercised: `snakemake` commands as dry
runs (`-n`) in a fresh folder shaped like the checkout (its `config/` and `profiles/`, no
`results/`), `make` targets with `make --dry-run`, the install lines against the Makefile's
recipe, and scripts' flags against their `--help`. A ```bash block that is a shell script
(a loop, files written, tools outside the project) runs whole in a fresh folder, with
stand-ins for the outside tools and `snakemake` as a dry run. Nothing reads or writes the
checkout's results/.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, run_snakemake

#: The documents whose commands and links are checked: the README and every page of docs/.
DOCUMENTS = {path.relative_to(ROOT).as_posix(): path.read_text()
             for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
#: First words of the project's own one-line commands; a ```bash block with any other line
#: is a shell script, run whole.
OWN_COMMANDS = ("make", "snakemake", "python3", "source", "pip", ".venv/bin/python")
#: Tools outside the project that a documented script calls (they need an account and the
#: network), replaced by stand-ins that do what the script relies on. gsutil: `cp URL... DIR`
#: leaves an empty file named as each object in DIR, so the dry run sees the names the
#: workflow expects.
STAND_INS = {
    "gcloud": "exit 0",
    "gsutil": 'shift; dest="${@: -1}"; for url in "${@:1:$#-1}"; do : > "$dest/${url##*/}"; done',
}
#: The shell's own words a documented script may use besides the stand-ins and snakemake.
SCRIPT_WORDS = {"for", "done", "mkdir", "printf", "snakemake", *STAND_INS}
#: Fragments a command's output must hold (besides succeeding).
EXPECT = {
    "snakemake -n": ["simulate_points", "solve_ot", "gather_tables", "plot_runtime_scaling",
                     "plot_alignment"],
    "snakemake --cores all --resources gpu=1 --configfile config/paper.yaml": ["n1048576"],
    "snakemake --lint": ["good condition"],
}


def logical_lines(chunk: str) -> list[str]:
    """The lines of a shell chunk, continuation lines joined and comments cut."""
    lines = []
    for line in re.sub(r"\\\n\s*", " ", chunk).splitlines():
        line = re.sub(r"\s#.*", "", line).strip()
        if line:
            lines.append(" ".join(line.split()))
    return lines


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every shell command of the documents: the lines of ```bash
    blocks and of indented blocks that start with `snakemake` or `.venv/bin/python`. A block
    that is a shell script is one command: its whole text."""
    commands = []
    for name, text in DOCUMENTS.items():
        chunks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
        chunks += re.findall(r"^    ((?:snakemake|\.venv/bin/python) (?:.*\\\n)*.*)$", text,
                             re.MULTILINE)
        for chunk in chunks:
            lines = logical_lines(chunk)
            if any(line.split()[0] not in OWN_COMMANDS for line in lines):
                commands.append((name, chunk))
                continue
            for line in lines:
                commands.extend((name, part.strip()) for part in line.split("&&")
                                if part.strip())
    return list(dict.fromkeys(commands))


COMMANDS = documented_commands()


def make_dry(*args: str) -> str:
    """The commands `make args` would run, whether or not .venv is up to date."""
    proc = subprocess.run(["make", "--dry-run", "--always-make", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def checkout_copy(folder: Path) -> Path:
    """Links the checkout's config/ and profiles/ into `folder` (a user's clone, minus
    results/)."""
    for name in ("config", "profiles"):
        (folder / name).symlink_to(ROOT / name)
    return folder


@functools.cache
def snakemake_in_checkout_copy(args: tuple[str, ...]):
    """Runs snakemake in a fresh checkout-shaped folder; once per distinct command."""
    with tempfile.TemporaryDirectory(prefix="hiref-docs-") as tmp:
        return run_snakemake(*args, workdir=checkout_copy(Path(tmp)))


def run_script(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Runs a documented shell script in a fresh checkout-shaped folder: `snakemake` as a dry
    run of this repository's workflow, the outside tools as their stand-ins."""
    for line in logical_lines(script):
        assert line.split()[0] in SCRIPT_WORDS, f"script line not exercised by any test: {line}"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    programs = {**STAND_INS, "snakemake": (f'exec "{sys.executable}" -m snakemake -s '
                                           f'"{ROOT / "Snakefile"}" -d "$PWD" -n "$@"')}
    for name, body in programs.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    checkout_copy(work)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def test_docs_show_the_commands_users_need():
    readme = [command for name, command in COMMANDS if name == "README.md"]
    for command in ("make run", "make test",
                    "snakemake results/tables/synthetic.csv --cores all --resources gpu=0"):
        assert command in readme, command
    everywhere = [command for _, command in COMMANDS]
    for command in ("snakemake --cores all --resources gpu=1",
                    "snakemake --cores all --resources gpu=0", "snakemake --profile profiles/slurm",
                    "--configfile config/paper.yaml", "snakemake --report results/report.html",
                    "make gpu-check", "make install EXTRAS=all,gpu"):
        assert any(command in c for c in everywhere), command


@pytest.mark.parametrize("document,command", COMMANDS,
                         ids=[f"{d}: {c.splitlines()[0]}" for d, c in COMMANDS])
def test_documented_command_works_as_written(document, command, tmp_path):
    if "\n" in command:
        proc = run_script(command, tmp_path)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        return
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
        # A script with steps (`gpu_runs.py bundle ...`): the flags of that step's help.
        step = words[2:3] if len(words) > 2 and not words[2].startswith("-") else []
        help_text = subprocess.run([sys.executable, words[1], *step, "--help"], cwd=ROOT,
                                   capture_output=True, text=True, check=True).stdout
        for flag in (w for w in words[2:] if w.startswith("--")):
            assert flag in help_text, (command, flag)
    elif words[0] == "snakemake":
        args = words[1:]
        if "--report" in args:
            # A report needs a finished run: tests/test_workflow_run.py makes one, then runs
            # exactly these arguments and checks what the report holds.
            import test_workflow_run

            assert tuple(args) == test_workflow_run.REPORT_ARGS, command
            assert callable(test_workflow_run.test_report_embeds_every_table_and_figure)
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
        pytest.fail(f"{document}: command not exercised by any test: {command}")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_between_documents_resolve():
    """Every relative link of the README and docs/ names a file of the repository and, with
    `#anchor`, a heading of that file."""
    for name, text in DOCUMENTS.items():
        prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (ROOT / name).parent / path if path else ROOT / name
            assert linked.exists(), f"{name}: {target}"
            if anchor:
                headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.MULTILINE)
                assert anchor in {github_anchor(h) for h in headings}, f"{name}: {target}"


def test_readme_links_every_page_of_the_docs():
    readme = DOCUMENTS["README.md"]
    for name in DOCUMENTS:
        if name.startswith("docs/"):
            assert f"]({name})" in readme, name
    assert "](config/README.md)" in readme


def test_architecture_names_every_rule():
    """docs/architecture.md lists every rule of the workflow with its file."""
    listed = DOCUMENTS["docs/architecture.md"]
    for path in [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]:
        for rule in re.findall(r"^rule (\w+):", path.read_text(), re.MULTILINE):
            row = f"| `{rule}` | `{path.relative_to(ROOT).as_posix()}` |"
            assert row in listed, f"{rule} ({path.name}) is missing from docs/architecture.md"


def test_readme_example_runs(capsys):
    """The README's `hiref.solve` example, as written, prints a matching and its cost. (In
    this process: the solver's programs for its shapes may already be compiled.)"""
    (example,) = re.findall(r"```python\n(.*?)```", DOCUMENTS["README.md"], re.DOTALL)
    exec(compile(example, "README.md", "exec"), {})  # noqa: S102 (the documented code, run)
    printed = capsys.readouterr().out
    perm, cost, seconds = re.fullmatch(r"\[([\d ]+)\] (\S+) (\S+)\n", printed).groups()
    assert len(perm.split()) == 5 and float(cost) > 0 and float(seconds) > 0, printed
