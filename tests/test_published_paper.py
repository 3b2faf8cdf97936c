"""Every published value of the package (src/hiref/report/published.yaml) is the number the
project's record of the paper gives (shared/paper.md, copied to tests/data/paper.md), read
from that text, and every number that text reports is in the package."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from hiref.report import published

#: The project's record of the paper, copied into the repository so the check runs anywhere.
PAPER = Path(__file__).parent / "data" / "paper.md"
#: The shared original the copy must equal, where it exists (HIREF_PAPER overrides).
SHARED = Path(os.environ.get("HIREF_PAPER",
                             Path(__file__).resolve().parents[1].parent / "shared" / "paper.md"))
#: Published values that only the package holds, with why (none at present: each value's
#: source is quoted by paper.md).
PACKAGE_ONLY: dict[tuple, str] = {}
_NUMBER = r"\d+(?:\.\d+)?"
_GENES = ("Slc17a7", "Grm4", "Olig1", "Gad1", "Peg10")


def _section(text: str, start: str, end: str | None = None) -> str:
    begin = text.index(start)
    return text[begin:text.index(end, begin + len(start)) if end else None]


def _table(block: str) -> list[list[str]]:
    """The cells of the first Markdown table in ``block`` (header first, separator dropped)."""
    rows = [line.strip().strip("|").split("|") for line in block.splitlines()
            if line.strip().startswith("|")]
    return [[c.strip() for c in row] for row in rows if not set("".join(row)) <= set("-: ")]


def paper_values(text: str) -> dict[tuple, float]:
    """``(experiment, method, n or gene, metric) -> value`` for every number paper.md reports
    (its last section, "What the authors actually ran", where it restates a number)."""
    out = {}
    ran = _section(text, "## What the authors actually ran")
    sweep = _table(_section(ran, "| n | HiRef | Sinkhorn | ProgOT |", "Their single-CPU"))
    methods = [m.lower() for m in sweep[0][1:]]
    for row in sweep[1:]:
        for method, cell in zip(methods, row[1:]):
            if cell != "–":
                out[("scaling", method, int(row[0]), "cost_p1")] = float(cell)
    # The synthetic table's half-moon W1 at n = 1024 is the sweep's first point.
    for method in methods:
        out[("synthetic", method, 1024, "cost_p1")] = out[("scaling", method, 1024, "cost_p1")]
    times = _table(_section(ran, "| n | 1024 |", "No GPU timing"))
    for row in times[1:]:
        for n, cell in zip(times[0][1:], row[1:]):
            if cell != "–":
                out[("scaling", row[0].lower(), int(n), "seconds")] = float(cell)
    out[("merfish", "hiref", 84172, "seconds")] = float(
        re.search(rf"MERFISH HiRef solve took ({_NUMBER}) s", ran)[1])

    mosta = _section(text, "3. **MOSTA", "4. **MERFISH")
    names = re.search(r"primal cost \(([^)]*)\)", mosta)[1].lower().split(" / ")
    cell = rf"(?:{_NUMBER}|–)"
    for n, cells in re.findall(rf"n = (\d+): ({cell}(?: / {cell})*)", mosta):
        for method, cell in zip(names, cells.split(" / ")):
            if cell.strip() != "–":
                out[("mosta", method, int(n), "cost_p1")] = float(cell)

    merfish = _section(ran, "**MERFISH.**", "**ImageNet.**")
    for b, cost, secs in re.findall(rf"(\d+): ({_NUMBER}) \(({_NUMBER}) s\)", merfish):
        out[("merfish", f"minibatch-{b}", 84172, "cost_p1")] = float(cost)
        out[("merfish", f"minibatch-{b}", 84172, "seconds")] = float(secs)
    cosines = _section(merfish, "gene-transfer cosines", " — ")
    for b, values in re.findall(r"(\d+): ((?:\.\d+ ?){5})", cosines):
        for gene, value in zip(_GENES, values.split()):
            out[("merfish", f"minibatch-{b}", gene, "cosine")] = float(value)
    experiments = _section(text, "4. **MERFISH", "5. **ImageNet")
    out[("merfish", "hiref", 84172, "cost_p1")] = float(
        re.search(rf"HiRef ({_NUMBER})", experiments)[1])
    out[("merfish", "frlc", 84172, "cost_p1")] = float(
        re.search(rf"FRLC rank 500: ({_NUMBER})", experiments)[1])
    out[("merfish", "mop", 84172, "cost_p1")] = float(
        re.search(rf"MOP \(multiscale LP\) on MERFISH: ({_NUMBER})", ran)[1])

    imagenet = _section(ran, "**ImageNet.**", "**Other published")
    out[("imagenet", "hiref", 640500, "cost_p1")] = float(
        re.search(rf"HiRef ({_NUMBER})", imagenet)[1])
    out[("imagenet", "frlc", 640500, "cost_p1")] = float(
        re.search(rf"FRLC rank 40: ({_NUMBER})", imagenet)[1])
    batches = re.search(r"B = ([\d/]+): ([\d./]+) with [\d/]+ batches in ([\d:/]+)", imagenet)
    for b, cost, clock in zip(*(part.split("/") for part in batches.groups())):
        minutes, seconds = clock.split(":")
        out[("imagenet", f"minibatch-{b}", 640500, "cost_p1")] = float(cost)
        out[("imagenet", f"minibatch-{b}", 640500, "seconds")] = 60.0 * int(minutes) + int(seconds)

    demo = _section(ran, "Demo n = 8192", "\n")
    dense, clouds = re.search(rf"HiRef ({_NUMBER}) \(dense C\) / ({_NUMBER}) \(point clouds\)",
                              demo).groups()
    out[("demo", "hiref_dense_cost", 8192, "cost_p1")] = float(dense)
    out[("demo", "hiref", 8192, "cost_p1")] = float(clouds)
    out[("demo", "sinkhorn", 8192, "cost_p1")] = float(
        re.search(rf"Sinkhorn \(absolute ε 0.05\) ({_NUMBER})", demo)[1])
    out[("demo", "hiref_lr_mini", 8192, "cost_p2")] = float(
        re.search(rf"squared Euclidean: HiRef ({_NUMBER})", demo)[1])
    out[("demo", "hiref_lr_mini", 200000, "cost_p2")] = float(
        re.search(rf"n = 200000 squared Euclidean with \[200, 1000\]: ({_NUMBER})", demo)[1])
    return out


def package_values() -> dict[tuple, float]:
    table = published.load()
    return {(row.experiment, row.method, row.gene if row.metric == "cosine" else int(row.n),
             row.metric): float(row.value) for row in table.itertuples()}


def test_every_published_value_is_the_papers():
    paper, package = paper_values(PAPER.read_text()), package_values()
    assert len(package) == 115  # every value of published.yaml, keyed uniquely
    unmatched = {key for key in package if key not in paper}
    assert unmatched == set(PACKAGE_ONLY), (
        f"published values paper.md does not report: {sorted(unmatched - set(PACKAGE_ONLY))}")
    differ = {key: (package[key], paper[key]) for key in package if key in paper
              and package[key] != paper[key]}
    assert not differ, f"package value != paper.md value: {differ}"


def test_every_number_paper_reports_is_published():
    paper, package = paper_values(PAPER.read_text()), package_values()
    assert len(paper) >= 115
    missing = sorted(set(paper) - set(package))
    assert not missing, f"numbers of paper.md not in published.yaml: {missing}"


def test_parser_reads_what_it_should():
    """The parser is not vacuous: a changed digit in paper.md is a changed value."""
    text = PAPER.read_text()
    assert paper_values(text)[("scaling", "hiref", 1024, "cost_p1")] == 2.1838
    changed = paper_values(text.replace("| 1024 | 2.1838 |", "| 1024 | 2.1839 |"))
    assert changed[("scaling", "hiref", 1024, "cost_p1")] == 2.1839
    assert paper_values(text)[("mosta", "frlc", 113350, "cost_p1")] == 14.00
    assert paper_values(text)[("imagenet", "minibatch-1024", 640500, "seconds")] == 1100


@pytest.mark.skipif(not SHARED.exists(), reason=f"{SHARED} (the shared original) not here")
def test_the_copy_is_the_shared_original():
    assert PAPER.read_text() == SHARED.read_text(), (
        f"tests/data/paper.md differs from {SHARED}: copy the shared file again")
