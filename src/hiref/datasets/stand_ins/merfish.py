"""Stand-in Vizgen MERFISH replicates: ``cell_metadata_S2R<r>.csv.gz`` and
``cell_by_gene_S2R<r>.csv.gz`` shaped like the Mouse Brain Receptor Map's files.

Columns, as Vizgen writes them: ``cell_metadata`` has an unnamed first column (the cell id,
a large integer), then ``fov``, ``volume``, ``center_x``, ``center_y``, ``min_x``, ``max_x``,
``min_y``, ``max_y`` (micrometres); ``cell_by_gene`` has ``cell`` then one integer column per
gene of :func:`panel` (the Blank-* controls last). Both are gzipped CSV whose gzip header
comment holds the marker (:mod:`.markers`); pandas reads them as any ``.csv.gz``.

Gene panel: the showcase panel has 483 genes (Vizgen; squidpy's Vizgen tutorial). Its full
list was not available to us: :data:`KNOWN_GENES` are panel genes we could confirm (the five
the paper scores, and the top Moran's I genes squidpy's tutorial prints for this panel); the
rest are named ``StandInGene001`` ...; the number of Blank controls (:data:`BLANKS`) is our
assumption. docs/stand-ins.md says so.

The model, seeded: one coronal brain section (a bilateral outline about 9.6 x 6.6 mm) with
regions (cortical layers, white matter, striatum, hippocampus, thalamus, hypothalamus,
amygdala, ventricles without cells); each region has its mix of cell types (excitatory,
inhibitory, oligodendrocyte, astrocyte, microglia, endothelial, thalamic and hypothalamic
neurons), and each cell type and region its genes (Slc17a7 in excitatory neurons, Gad1 in
inhibitory ones, most in the striatum, Olig1 in white matter, Grm4 in the thalamus, Peg10 in
the hypothalamus). Counts are negative binomial (gamma-Poisson) around a log-normal total
(median :data:`MEDIAN_COUNTS`). Replicates are two independent samples of the same section,
each placed on its slide: the target replicate rotated by ``-rotation_deg`` about the
section's centre, so that the authors' +45 degree rotation brings it back.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd

from hiref.datasets.stand_ins.markers import GzipCommentWriter, make_marker, marker_text
from hiref.provenance import atomic_path

#: Panel size of the Vizgen Mouse Brain Receptor Map (Blank controls apart).
PANEL_GENES = 483
#: Panel genes we could confirm: the five the paper scores, then squidpy's Moran's I list.
KNOWN_GENES = ("Slc17a7", "Grm4", "Olig1", "Gad1", "Peg10", "Chrm1", "Gfap", "Baiap2",
               "Sstr4", "Glp2r", "Mas1", "Grin2b", "Gprc5b", "Npy2r")
#: Blank (negative control) barcodes: our assumption, the real count was not available.
BLANKS = 50
MEDIAN_COUNTS = 220.0
#: Half-size of the section (micrometres) and the slide position of its centre.
HALF_WIDTH, HALF_HEIGHT = 4800.0, 3300.0
SLIDE_CENTRE = {"source": (5600.0, 4200.0), "target": (6400.0, 5900.0)}
FOV_SIZE = 200.0
CELL_TYPES = ("excitatory", "inhibitory", "oligodendrocyte", "astrocyte", "microglia",
              "endothelial", "thalamic", "hypothalamic")
#: Region -> probabilities of CELL_TYPES (each row sums to 1).
REGION_MIX = {
    "cortex_l1": (0.05, 0.25, 0.10, 0.35, 0.10, 0.15, 0.0, 0.0),
    "cortex_l23": (0.70, 0.15, 0.04, 0.06, 0.02, 0.03, 0.0, 0.0),
    "cortex_l4": (0.75, 0.12, 0.04, 0.05, 0.02, 0.02, 0.0, 0.0),
    "cortex_l5": (0.70, 0.14, 0.06, 0.05, 0.02, 0.03, 0.0, 0.0),
    "cortex_l6": (0.65, 0.12, 0.12, 0.06, 0.02, 0.03, 0.0, 0.0),
    "white_matter": (0.02, 0.02, 0.80, 0.10, 0.04, 0.02, 0.0, 0.0),
    "striatum": (0.02, 0.85, 0.05, 0.04, 0.02, 0.02, 0.0, 0.0),
    "hippocampus": (0.80, 0.10, 0.03, 0.04, 0.01, 0.02, 0.0, 0.0),
    "thalamus": (0.05, 0.08, 0.12, 0.06, 0.02, 0.03, 0.64, 0.0),
    "hypothalamus": (0.10, 0.25, 0.06, 0.06, 0.02, 0.03, 0.0, 0.48),
    "amygdala": (0.45, 0.35, 0.06, 0.08, 0.03, 0.03, 0.0, 0.0),
    "other": (0.25, 0.25, 0.20, 0.15, 0.05, 0.10, 0.0, 0.0),
}
REGIONS = tuple(REGION_MIX)
#: Genes raised in each cell type (known genes first; 25 more seeded panel genes each).
TYPE_MARKERS = {"excitatory": ("Slc17a7", "Chrm1", "Baiap2"), "inhibitory": ("Gad1", "Sstr4"),
                "oligodendrocyte": ("Olig1", "Gprc5b"), "astrocyte": ("Gfap",),
                "microglia": (), "endothelial": (), "thalamic": ("Grm4", "Npy2r"),
                "hypothalamic": ("Peg10", "Glp2r", "Mas1")}
MARKER_FOLD = np.log(25.0)
#: Gamma shape of the counts' over-dispersion (negative binomial size).
DISPERSION = 2.0


def panel() -> list[str]:
    """The ``cell_by_gene`` gene columns: 483 genes (:data:`KNOWN_GENES` first), then the
    Blank controls."""
    fill = [f"StandInGene{i:03d}" for i in range(1, PANEL_GENES - len(KNOWN_GENES) + 1)]
    return [*KNOWN_GENES, *fill, *(f"Blank-{i}" for i in range(BLANKS))]


def _superellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """0 at the centre, 1 on the outline of the section."""
    return (np.abs(u) ** 2.5 + np.abs(v) ** 2.5) ** (1 / 2.5)


def regions(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Region index (into :data:`REGIONS`) of positions in section coordinates (u, v in
    [-1, 1]); -1 outside the section or in a ventricle or the midline fissure."""
    a, depth = np.abs(u), 1.0 - _superellipse(u, v)
    out = np.full(u.shape, REGIONS.index("other"))

    def inside(cu, cv, ru, rv):
        return ((a - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0

    out[inside(0.0, -0.05, 0.30, 0.30)] = REGIONS.index("thalamus")
    out[inside(0.0, -0.68, 0.25, 0.22)] = REGIONS.index("hypothalamus")
    out[(a > 0.55) & (v < -0.3)] = REGIONS.index("amygdala")
    out[inside(0.38, 0.10, 0.22, 0.30)] = REGIONS.index("striatum")
    ring = np.hypot((a - 0.30) / 0.22, (v - 0.30) / 0.16)
    out[(ring > 0.75) & (ring < 1.0) & (v > 0.2)] = REGIONS.index("hippocampus")
    upper = v > -0.35
    for name, limit in (("white_matter", 0.27), ("cortex_l6", 0.22), ("cortex_l5", 0.15),
                        ("cortex_l4", 0.10), ("cortex_l23", 0.07), ("cortex_l1", 0.02)):
        out[upper & (depth < limit)] = REGIONS.index(name)
    hole = inside(0.24, 0.18, 0.04, 0.13) | ((a < 0.02) & (v > 0.55)) | (depth <= 0.0)
    out[hole] = -1
    return out


def sample_cells(n_cells: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_cells`` uniform positions (u, v) inside the section and their regions."""
    uv, reg = np.empty((0, 2)), np.empty(0, int)
    while len(uv) < n_cells:
        draw = rng.uniform(-1, 1, (2 * (n_cells - len(uv)) + 64, 2))
        r = regions(draw[:, 0], draw[:, 1])
        uv, reg = np.vstack([uv, draw[r >= 0]]), np.r_[reg, r[r >= 0]]
    return uv[:n_cells], reg[:n_cells]


def expression_model(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Log expression ``(len(CELL_TYPES), genes)`` by cell type and log modulation
    ``(len(REGIONS), genes)`` by region, over :func:`panel` (Blank controls near zero)."""
    genes = panel()
    rng = np.random.default_rng([seed, 11])
    n_real = PANEL_GENES
    base = np.r_[np.minimum(rng.normal(0.0, 1.3, n_real), 3.0), np.full(BLANKS, -7.5)]
    base[: len(KNOWN_GENES)] = -1.5  # the named genes mark their cell types
    by_type = np.tile(base, (len(CELL_TYPES), 1))
    for t, name in enumerate(CELL_TYPES):
        named = [genes.index(g) for g in TYPE_MARKERS[name]]
        extra = rng.choice(np.arange(len(KNOWN_GENES), n_real), 25, replace=False)
        by_type[t, named] += MARKER_FOLD + 1.0
        by_type[t, extra] += MARKER_FOLD
    by_region = np.zeros((len(REGIONS), len(genes)))
    by_region[:, :n_real] = rng.normal(0.0, 0.35, (len(REGIONS), n_real))
    by_region[REGIONS.index("striatum"), genes.index("Gad1")] += 1.0
    return by_type, by_region


def slide_coordinates(uv: np.ndarray, role: str, rotation_deg: float) -> np.ndarray:
    """Micrometre coordinates on the slide: the section scaled, rotated by ``-rotation_deg``
    (target) or not (source), and placed at its slide centre."""
    xy = uv * [HALF_WIDTH, HALF_HEIGHT]
    if role == "target":
        t = np.deg2rad(-rotation_deg)
        xy = xy @ np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]).T
    return xy + SLIDE_CENTRE[role]


def _cell_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Vizgen-like cell ids: distinct large decimal integers (about 38 digits)."""
    high = rng.integers(10**17, 10**18, n)
    low = rng.integers(0, 10**19, n, dtype=np.uint64)
    ids = [f"{h}{lo:019d}" for h, lo in zip(high.tolist(), low.tolist())]
    if len(set(ids)) != n:
        raise RuntimeError("cell ids collided; change the seed")
    return ids


def write_replicate(metadata_path: str | os.PathLike, counts_path: str | os.PathLike, *,
                    replicate: int, role: str, n_cells: int, rotation_deg: float, seed: int,
                    chunk_cells: int = 20000, progress=print) -> dict:
    """Writes one replicate's two gzipped CSVs atomically; returns the marker.

    ``role`` is "source" (Replicate 3 in the paper) or "target" (Replicate 2, rotated).
    Both replicates share the section and the expression model (``seed``); their cells are
    independent samples.
    """
    if role not in SLIDE_CENTRE:
        raise ValueError(f"role must be one of {sorted(SLIDE_CENTRE)}, got {role!r}")
    rng = np.random.default_rng([seed, 12, replicate])
    uv, reg = sample_cells(n_cells, rng)
    mix = np.array([REGION_MIX[r] for r in REGIONS])
    draw = rng.random(n_cells)[:, None]
    cell_type = np.minimum((draw > np.cumsum(mix[reg], axis=1)).sum(1), len(CELL_TYPES) - 1)
    xy = slide_coordinates(uv, role, rotation_deg)
    by_type, by_region = expression_model(seed)
    genes = panel()
    ids = _cell_ids(rng, n_cells)
    volume = rng.lognormal(np.log(900.0), 0.5, n_cells)
    half = np.sqrt(volume / 10.0)[:, None] / 2 + rng.uniform(0.5, 2.0, (n_cells, 2))
    fov_x = np.floor((xy[:, 0] - xy[:, 0].min()) / FOV_SIZE).astype(int)
    fov_y = np.floor((xy[:, 1] - xy[:, 1].min()) / FOV_SIZE).astype(int)
    fov = fov_y * (fov_x.max() + 1) + fov_x
    marker = make_marker("merfish", seed, replicate=replicate, role=role, cells=n_cells,
                         genes=PANEL_GENES, blanks=BLANKS, rotation_deg=rotation_deg)
    comment = marker_text(marker)
    with atomic_path(metadata_path) as meta_tmp, atomic_path(counts_path) as counts_tmp, \
            open(meta_tmp, "wb") as meta_raw, open(counts_tmp, "wb") as counts_raw, \
            io.TextIOWrapper(io.BufferedWriter(GzipCommentWriter(meta_raw, comment)),
                             encoding="utf-8", newline="") as meta_out, \
            io.TextIOWrapper(io.BufferedWriter(GzipCommentWriter(counts_raw, comment)),
                             encoding="utf-8", newline="") as counts_out:
        for start in range(0, n_cells, chunk_cells):
            rows = slice(start, min(start + chunk_cells, n_cells))
            index = pd.Index(ids[rows])
            pd.DataFrame({
                "fov": fov[rows], "volume": volume[rows],
                "center_x": xy[rows, 0], "center_y": xy[rows, 1],
                "min_x": xy[rows, 0] - half[rows, 0], "max_x": xy[rows, 0] + half[rows, 0],
                "min_y": xy[rows, 1] - half[rows, 1], "max_y": xy[rows, 1] + half[rows, 1],
            }, index=index).to_csv(meta_out, header=start == 0)
            log_rate = by_type[cell_type[rows]] + by_region[reg[rows]]
            rate = np.exp(log_rate - log_rate.max(axis=1, keepdims=True))
            totals = rng.lognormal(np.log(MEDIAN_COUNTS), 0.5, len(index)) * (
                volume[rows] / 900.0) ** 0.5
            mean = rate / rate.sum(axis=1, keepdims=True) * totals[:, None]
            counts = rng.poisson(mean * rng.gamma(DISPERSION, 1.0 / DISPERSION, mean.shape))
            frame = pd.DataFrame(counts.astype(np.int32), columns=genes,
                                 index=index.rename("cell"))
            frame.to_csv(counts_out, header=start == 0)
            progress(f"S2R{replicate}: {rows.stop}/{n_cells} cells")
    return marker
