"""Stand-in MOSTA stages: ``<stage>_E1S1.MOSTA.h5ad`` files shaped like the Stereo-seq ones.

What :func:`write_stage` writes, and what :mod:`hiref.datasets.mosta` reads from it:

- ``layers['count']``: raw UMI counts, CSR float32, cells x genes; ``X`` the same matrix
  log-normalised (``log1p`` of counts per 10,000), as a processed matrix beside the raw one;
- ``obs['annotation']``: the tissue of each cell (categorical), ``obsm['spatial']`` its
  coordinates (float64, one unit per cell-bin spacing), ``uns['annotation_colors']``;
- ``var``: gene names; each stage holds a seeded ``1 - gene_dropout`` of one panel, so two
  stages share most but not all genes, as the real files do;
- ``uns['stand_in']``: the marker (:mod:`.markers`).

The model, all seeded by ``seed`` (the same for every stage, so that stages are one embryo
over time):

- layout: cells uniform in an ellipse whose area grows with the cell count (one cell per
  unit area); tissues are the cells nearest to seeded, weighted centres that drift between
  stages; a stage shows its first ``tissues`` tissues of :data:`TISSUES`;
- expression: each tissue has a gene profile (a log-normal base over the whole panel, about
  60 marker genes raised 30-fold, and a random walk from stage to stage); a cell's UMIs
  (log-normal library size around ``median_umi``) are drawn from its own tissue's profile,
  its second-nearest tissue's (more near a boundary, as cell bins catch neighbours' RNA)
  and an ambient profile. Mixing profiles per cell makes counts over-dispersed (negative
  binomial-like) across cells of one tissue.

Only one chunk of cells is in memory at a time (``chunk_cells``); the counts are appended to
the file chunk by chunk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

from hiref.datasets.stand_ins.markers import KEY, make_marker
from hiref.provenance import atomic_path

#: Tissue names, in the order stages show them (a stage with k tissues shows the first k);
#: the labels of the real files' ``obs['annotation']``.
TISSUES = (
    "Brain", "Heart", "Liver", "Mesenchyme", "Muscle", "Cavity", "Spinal cord",
    "Surface ectoderm", "Dorsal root ganglion", "Sclerotome", "Connective tissue",
    "Blood vessel", "Meninges", "Cartilage primordium", "Jaw and tooth", "Epidermis", "Lung",
    "GI tract", "Kidney", "Choroid plexus", "Smooth muscle", "Adrenal gland", "Mucosal epithelium",
    "Cartilage", "Pancreas", "Bone", "Inner ear", "Olfactory epithelium",
)
#: Rows of the counts matrix appended per h5py write.
H5_CHUNK = 1 << 18
MARKERS_PER_TISSUE = 60
MARKER_FOLD = np.log(30.0)
#: Spread of the log gene means: 2.5 gives about 1,000 genes detected per 2,000 UMIs.
GENE_LOG_SD = 2.5
GENE_LOG_CLIP = 2.2
#: Standard deviation of each tissue's log profile per stage step (the drift).
DRIFT_SD = 0.25
#: Counts are normalised to this total per cell in ``X``.
NORMALISED_TOTAL = 1e4


@dataclass(frozen=True)
class StageModel:
    """Everything :func:`write_stage` needs besides the stage's index and size."""

    genes: int
    median_umi: float
    gene_dropout: float
    seed: int


def gene_names(genes: int) -> list[str]:
    """The panel's gene names: ``StandInGene00001`` ..., never a real gene's name."""
    return [f"StandInGene{i:05d}" for i in range(1, genes + 1)]


def stage_genes(model: StageModel, stage_index: int) -> np.ndarray:
    """Indices (into the panel) of the genes stage ``stage_index`` holds, in panel order."""
    rng = np.random.default_rng([model.seed, 1, stage_index])
    return np.flatnonzero(rng.random(model.genes) >= model.gene_dropout)


def tissue_profiles(model: StageModel, stage_index: int, tissues: int) -> np.ndarray:
    """Log expression profiles ``(tissues + 1, genes)`` at a stage: one per tissue (base +
    markers + the random walk up to this stage), the last the ambient profile."""
    rng = np.random.default_rng([model.seed, 2])
    # Clipped: no single gene takes more than about 1 % of a cell's UMIs.
    base = np.minimum(rng.normal(0.0, GENE_LOG_SD, model.genes), GENE_LOG_CLIP * GENE_LOG_SD)
    n_tissues = len(TISSUES)
    profiles = np.tile(base, (n_tissues + 1, 1))
    for k in range(n_tissues):
        markers = rng.choice(model.genes, MARKERS_PER_TISSUE, replace=False)
        profiles[k, markers] += MARKER_FOLD
    for step in range(stage_index):
        walk = np.random.default_rng([model.seed, 3, step])
        profiles[:n_tissues] += walk.normal(0.0, DRIFT_SD, (n_tissues, model.genes))
    return np.vstack([profiles[:tissues], profiles[n_tissues:]])


def tissue_centres(seed: int, stage_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(len(TISSUES), 2)`` in the unit disc at a stage, and their weights: seeded
    start points that move by a seeded velocity per stage (tissues shift and grow)."""
    rng = np.random.default_rng([seed, 4])
    n = len(TISSUES)
    radius, angle = np.sqrt(rng.uniform(0, 0.8, n)), rng.uniform(0, 2 * np.pi, n)
    start = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    velocity = rng.normal(0.0, 0.03, (n, 2))
    weights = rng.uniform(0.6, 1.4, n)
    return start + stage_index * velocity, weights


def layout(n_cells: int, seed: int, stage_index: int) -> np.ndarray:
    """``(n_cells, 2)`` positions uniform in the stage's ellipse (area ``n_cells``), in
    unit-disc coordinates; :func:`to_spatial` maps them to the file's coordinates."""
    rng = np.random.default_rng([seed, 5, stage_index])
    out = np.empty((0, 2))
    while len(out) < n_cells:
        draw = rng.uniform(-1, 1, (2 * (n_cells - len(out)) + 16, 2))
        out = np.vstack([out, draw[(draw**2).sum(1) <= 1]])
    return out[:n_cells]


def to_spatial(unit: np.ndarray, n_cells: int) -> np.ndarray:
    """Unit-disc positions -> coordinates of an ellipse (aspect 1.3) of area ``n_cells``,
    shifted to positive values as Stereo-seq coordinates are."""
    b = np.sqrt(n_cells / (np.pi * 1.3))
    a = 1.3 * b
    return np.c_[unit[:, 0] * a + a + 50.0, unit[:, 1] * b + b + 50.0]


def nearest_tissues(unit: np.ndarray, centres: np.ndarray, weights: np.ndarray,
                    tissues: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Own tissue, second-nearest tissue and the distance ratio (nearest / second, in
    (0, 1]; near 1 at a boundary) under weighted distances, for each position."""
    dist = np.linalg.norm(unit[:, None, :] - centres[None, :tissues], axis=2) / weights[:tissues]
    order = np.argsort(dist, axis=1)[:, :2]
    rows = np.arange(len(unit))
    d1, d2 = dist[rows, order[:, 0]], dist[rows, order[:, 1]]
    return order[:, 0], order[:, 1], d1 / np.maximum(d2, 1e-12)


class AliasSampler:
    """Draws category indices with probabilities ``p`` in O(1) each (Vose's alias method)."""

    def __init__(self, p: np.ndarray):
        n = len(p)
        scaled = (np.asarray(p, np.float64) / np.sum(p) * n).tolist()
        self.accept = np.ones(n)
        self.alias = np.arange(n)
        small = [i for i, q in enumerate(scaled) if q < 1.0]
        large = [i for i, q in enumerate(scaled) if q >= 1.0]
        while small and large:
            s, big = small.pop(), large.pop()
            self.accept[s], self.alias[s] = scaled[s], big
            scaled[big] += scaled[s] - 1.0
            (small if scaled[big] < 1.0 else large).append(big)

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        pick = rng.integers(0, len(self.accept), size)
        return np.where(rng.random(size) < self.accept[pick], pick, self.alias[pick])


def count_chunk(rng: np.random.Generator, own: np.ndarray, neighbour: np.ndarray,
                ratio: np.ndarray, samplers: list[AliasSampler], median_umi: float,
                n_genes: int) -> sp.csr_matrix:
    """Counts ``(len(own), n_genes)`` of one chunk of cells: each cell's UMIs split between
    its own tissue, its neighbour (more at a boundary) and the ambient profile (the last
    sampler), then drawn gene by gene from each profile."""
    n = len(own)
    umis = np.maximum(np.rint(rng.lognormal(np.log(median_umi), 0.45, n)), 50).astype(np.int64)
    own_share = rng.beta(6.0, 1.5, n)
    n_own = rng.binomial(umis, own_share)
    n_neighbour = rng.binomial(umis - n_own, 0.8 * ratio)
    n_ambient = umis - n_own - n_neighbour
    cells = np.arange(n)
    codes = []
    ambient = len(samplers) - 1
    for topic, sampler in enumerate(samplers):
        if topic == ambient:
            takes = [(cells, n_ambient)]
        else:
            takes = [(cells[own == topic], n_own[own == topic]),
                     (cells[neighbour == topic], n_neighbour[neighbour == topic])]
        for who, how_many in takes:
            rows = np.repeat(who, how_many)
            if len(rows):
                codes.append(rows * n_genes + sampler.draw(rng, len(rows)))
    codes = np.sort(np.concatenate(codes))
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.r_[starts, len(codes)]).astype(np.float32)
    keys = codes[starts]
    indptr = np.searchsorted(keys // n_genes, np.arange(n + 1))
    return sp.csr_matrix((counts, (keys % n_genes).astype(np.int32), indptr), shape=(n, n_genes))


def log_normalised(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``log1p`` of counts scaled to :data:`NORMALISED_TOTAL` per cell (same sparsity)."""
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.repeat(NORMALISED_TOTAL / np.maximum(totals, 1.0), np.diff(counts.indptr))
    return sp.csr_matrix((np.log1p(counts.data * scale).astype(np.float32), counts.indices,
                          counts.indptr), shape=counts.shape)


def _write_meta(f: h5py.File, obs: pd.DataFrame, genes: list[str], spatial: np.ndarray,
                uns: dict) -> None:
    from anndata.io import write_elem

    f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
    write_elem(f, "obs", obs)
    write_elem(f, "var", pd.DataFrame(index=pd.Index(genes)))
    write_elem(f, "obsm", {"spatial": spatial})
    write_elem(f, "uns", uns)
    write_elem(f, "layers", {})
    for empty in ("obsp", "varm", "varp"):
        write_elem(f, empty, {})


def write_stage(path: str | os.PathLike, *, stage: str, stage_index: int, n_cells: int,
                tissues: int, model: StageModel, chunk_cells: int = 8192,
                progress=print) -> dict:
    """Writes one stand-in stage file atomically; returns its marker.

    ``stage_index`` is the stage's position in developmental order (0 for E9.5): it sets the
    drift. ``tissues`` (at most ``len(TISSUES)``) is how many tissues the stage shows.
    """
    from anndata.io import sparse_dataset, write_elem

    if not 2 <= tissues <= len(TISSUES):
        raise ValueError(f"{stage}: tissues must be within 2..{len(TISSUES)}, got {tissues}")
    kept = stage_genes(model, stage_index)
    names = np.asarray(gene_names(model.genes))[kept].tolist()
    unit = layout(n_cells, model.seed, stage_index)
    centres, weights = tissue_centres(model.seed, stage_index)
    own, neighbour, ratio = nearest_tissues(unit, centres, weights, tissues)
    profiles = tissue_profiles(model, stage_index, tissues)[:, kept]
    samplers = [AliasSampler(np.exp(row - row.max())) for row in profiles]
    marker = make_marker("mosta", model.seed, stage=stage, stage_index=stage_index,
                         cells=n_cells, tissues=tissues, genes=len(kept),
                         panel_genes=model.genes, median_umi=model.median_umi)
    obs = pd.DataFrame(
        {"annotation": pd.Categorical.from_codes(own, categories=list(TISSUES[:tissues]))},
        index=pd.Index([f"cell{i}" for i in range(n_cells)]),
    )
    palette = [f"#{int(h):06x}" for h in np.random.default_rng([model.seed, 6]).integers(
        0, 1 << 24, tissues)]
    uns = {"annotation_colors": np.asarray(palette), KEY: json.dumps(marker, sort_keys=True)}
    rng = np.random.default_rng([model.seed, 7, stage_index])
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        _write_meta(f, obs, names, to_spatial(unit, n_cells), uns)
        for start in range(0, n_cells, chunk_cells):
            stop = min(start + chunk_cells, n_cells)
            counts = count_chunk(rng, own[start:stop], neighbour[start:stop],
                                 ratio[start:stop], samplers, model.median_umi, len(kept))
            for group, matrix in ((f["layers"], counts), (f, log_normalised(counts))):
                name = "count" if group.name == "/layers" else "X"
                if start == 0:
                    write_elem(group, name, matrix, dataset_kwargs={"chunks": (H5_CHUNK,)})
                else:
                    sparse_dataset(group[name]).append(matrix)
            progress(f"{stage}: {stop}/{n_cells} cells")
    return marker
