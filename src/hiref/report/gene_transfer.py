"""Gene-expression transfer on MERFISH: how well a method's transport carries the source
slice's expression onto the target slice (the paper's Fig. 4 and Table S-MERFISH).

The paper scores methods with two different cosine formulas, and a score is only comparable
with another computed by the same one. Each score row names its formula (:data:`COSINES`):

- ``binned_transfer`` (the authors' ``transfer_and_visualize_gene``, used for HiRef, FRLC and
  MOP): each source cell's count is moved to the target cell the method maps it to; the
  target's expression and the moved expression are averaged over ``bins x bins`` equal-width
  bins of the target coordinates (each cell takes its bin's mean) and compared by cosine
  similarity. For a map that is not a bijection (FRLC's argmax map) the authors' array
  assignment is kept: a target reached by several sources takes the last of them in row
  order, a target reached by none gets 0.
- ``plan_inner_product`` (the authors' ``minibatch_sinkhorn``, used for mini-batch OT): the
  source expression averaged over bins of the *source* coordinates and the target's over
  bins of the *target* coordinates, each vector L2-normalised over the cells, give
  ``B * sum_batches sum_ij P_ij x_i y_j`` with ``P`` each batch's entropic plan. A map is one
  batch of size n with ``P_i,map(i) = 1/n``, so the formula applies to every method.

Which formula scores which method (:func:`formulas_of`): a bijection (``hiref``,
``hiref_refined``, ``minibatch_exact``, ``bspot``, ``exact``) and a map (``frlc``) are scored
by both formulas, the mini-batch plan (``minibatch``) by ``plan_inner_product`` only; the
paper's own formula for each of its methods is :data:`PAPER_FORMULA` (the tables compare a
published cosine only with ours of the same formula).

A run's transport comes from the ``.npz`` beside its record, decoded by its method's output
form (:mod:`hiref.methods.outputs`): ``perm`` (a bijection), ``map`` (an argmax map) or the
mini-batch keys ``batch_perm``, ``batch_size``, ``f``, ``g``, ``batch_epsilon``, ``cost``
(batch ``k`` pairs ``x[batch_perm[kB:(k+1)B]]`` with the same rows of ``y``; its plan is
``exp((f_i + g_j - C_ij) / eps_k)``, ott's convention).
"""

from __future__ import annotations

import json
import os

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from hiref.datasets.merfish import SPATIAL_KEY
from hiref.methods import output_forms
from hiref.methods.outputs import Transport
from hiref.report import published as pub
from hiref.report.stand_in import HEADING as STAND_IN_HEADING
from hiref.report.stand_in import NOTE as STAND_IN_NOTE

#: Cosine formulas by name: what each score row's ``definition`` means.
COSINES = {
    "binned_transfer": (
        "cosine of the target's expression and the expression moved onto the target cells "
        "through the method's map (a target reached by several sources takes the last, one "
        "reached by none 0), both averaged over equal-width bins of the target coordinates "
        "(authors' transfer_and_visualize_gene)"
    ),
    "plan_inner_product": (
        "B * sum over batches of sum_ij P_ij x_i y_j, x = source expression averaged over bins "
        "of the source coordinates, y = target expression over bins of the target coordinates, "
        "each L2-normalised over the cells; a map counts as one batch of n with P = 1/n "
        "(authors' minibatch_sinkhorn)"
    ),
}


#: The formula the paper scored each of its methods by; methods of ours are scored by both
#: (where they apply) and compare with no published cosine.
PAPER_FORMULA = {"hiref": "binned_transfer", "frlc": "binned_transfer",
                 "mop": "binned_transfer", "minibatch": "plan_inner_product"}
#: Least opacity of the figure's overlay of both slices (each cell a point of its slice's
#: colour), whatever the number of cells.
OVERLAY_ALPHA_MIN = 0.3
#: Transport kinds (:class:`hiref.methods.outputs.Transport`) -> the formulas that score them.
FORMULAS_BY_KIND = {"bijection": ("binned_transfer", "plan_inner_product"),
                    "map": ("binned_transfer", "plan_inner_product"),
                    "minibatch": ("plan_inner_product",)}


def formulas_of(method: str) -> tuple[str, ...]:
    """The cosine formulas a registered method's transport is scored by (none for a method
    whose output form holds no transport, e.g. Sinkhorn's dense plan, scored in its job)."""
    from hiref.methods import METHODS, parse_label

    form = METHODS[parse_label(method)[0]].output
    if form.decode is None:
        return ()
    kind = {"bijection": "bijection", "map": "map", "mini-batch plan": "minibatch"}[form.kind]
    return FORMULAS_BY_KIND[kind]


def read_transport(path: str | os.PathLike, n_source: int, n_target: int) -> Transport:
    """The transport of a run's ``.npz``, decoded by the output form whose data it holds
    (:mod:`hiref.methods.outputs`); ``ValueError`` naming the file when it holds none or does
    not fit the prepared slices (a run on a subsample cannot be mapped back to cells)."""
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    for form in output_forms():
        if form.decode is not None and form.holds_data(arrays):
            return form.decode(arrays, n_source, n_target, path)
    raise ValueError(f"{path}: holds no matching, map or mini-batch plan to transfer through")


def moved_expression(values: np.ndarray, transport: Transport, n_target: int,
                     x: np.ndarray | None = None, y: np.ndarray | None = None) -> np.ndarray:
    """(n_target,) source ``values`` moved onto the target cells.

    Maps use the authors' assignment (last source wins, unreached targets 0); the mini-batch
    plan moves ``B * P^T values`` within each batch (a barycentric transfer, for pictures:
    the plan's cosine is :func:`plan_inner_product`)."""
    out = np.zeros(n_target)
    if transport.kind != "minibatch":
        last = np.full(n_target, -1)
        np.maximum.at(last, transport.targets, np.arange(len(transport.targets)))
        out[last >= 0] = values[last[last >= 0]]
        return out
    for k, (rows, start) in enumerate(transport.batches()):
        out[rows] = transport.batch_size * (transport.plan(k, rows, start, x, y).T @ values[rows])
    return out


def bin_average(values: np.ndarray, coords: np.ndarray, bins: int = 75) -> np.ndarray:
    """Each cell's value replaced by the mean over its cell of a ``bins x bins`` grid of
    equal-width bins spanning ``coords`` (``pandas.cut``, as the authors' ``spatial_avg``)."""
    bx = pd.cut(coords[:, 0], bins=bins, labels=False)
    by = pd.cut(coords[:, 1], bins=bins, labels=False)
    cell = np.asarray(bx, dtype=np.int64) * bins + np.asarray(by, dtype=np.int64)
    sums = np.bincount(cell, weights=values, minlength=bins * bins)
    counts = np.bincount(cell, minlength=bins * bins)
    return (sums / np.maximum(counts, 1))[cell]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def plan_inner_product(x_hat: np.ndarray, y_hat: np.ndarray, transport: Transport,
                       x: np.ndarray, y: np.ndarray) -> float:
    """``B * sum_batches sum_ij P_ij x_hat_i y_hat_j`` (the authors' mini-batch score); a
    map is one batch of size n with ``P_i,map(i) = 1/n``."""
    if transport.kind != "minibatch":
        return float(x_hat @ y_hat[transport.targets])
    total = 0.0
    for k, (rows, start) in enumerate(transport.batches()):
        total += x_hat[rows] @ transport.plan(k, rows, start, x, y) @ y_hat[rows]
    return float(transport.batch_size * total)


def _gene_values(adata: ad.AnnData, gene: str) -> np.ndarray:
    col = adata[:, gene].X
    return np.asarray(col.todense() if sp.issparse(col) else col, dtype=np.float64).ravel()


def gene_transfer_scores(
    adata: ad.AnnData, transport: Transport, genes: list[str], *, bins: int = 75
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Cosine scores per gene and formula (rows: gene, definition, cosine_similarity, bins,
    targets_reached), and per gene the binned target and moved expression for plotting.

    ``adata``: the prepared MERFISH pair (source rows, then target rows). Each transport is
    scored by the formulas of :data:`FORMULAS_BY_KIND` for its kind: bijections and maps by
    both formulas of :data:`COSINES`, the mini-batch plan by ``plan_inner_product`` only (the
    authors' formula for it).
    """
    missing = [g for g in genes if g not in adata.var_names]
    if missing:
        raise ValueError(f"gene(s) {missing} are not in the MERFISH cell-by-gene matrix")
    is_x = (adata.obs["slice"] == "source").to_numpy()
    src, tgt = adata[is_x], adata[~is_x]
    x, y = np.asarray(src.obsm[SPATIAL_KEY]), np.asarray(tgt.obsm[SPATIAL_KEY])
    reached = (len(np.unique(transport.targets)) if transport.kind != "minibatch"
               else tgt.n_obs)
    rows, smoothed = [], {}
    for gene in genes:
        source_values, target_values = _gene_values(src, gene), _gene_values(tgt, gene)
        target_binned = bin_average(target_values, y, bins)
        moved = bin_average(moved_expression(source_values, transport, tgt.n_obs, x, y), y, bins)
        smoothed[gene] = (target_binned, moved)
        scores = {"plan_inner_product": plan_inner_product(
            _unit(bin_average(source_values, x, bins)), _unit(target_binned), transport, x, y)}
        if "binned_transfer" in FORMULAS_BY_KIND[transport.kind]:
            scores["binned_transfer"] = cosine(target_binned, moved)
        rows += [{"gene": gene, "definition": name, "cosine_similarity": value, "bins": bins,
                  "targets_reached": reached} for name, value in sorted(scores.items())]
    return pd.DataFrame(rows), smoothed


def plot_transfer(
    adata: ad.AnnData,
    smoothed: dict[str, tuple[np.ndarray, np.ndarray]],
    scores: pd.DataFrame,
    title: str = "",
):
    """Figure: both slices after centring/rotation, then per gene the binned target
    expression (top) above the binned moved expression (bottom), with the run's cosines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    is_x = (adata.obs["slice"] == "source").to_numpy()
    xy = np.asarray(adata.obsm[SPATIAL_KEY])
    genes = list(smoothed)
    fig, axes = plt.subplots(
        2, len(genes) + 1, figsize=(3.2 * (len(genes) + 1), 6.6), squeeze=False
    )
    # Marker size shrinks with the number of cells (a few hundred in tests, 168k real). The
    # overlay's opacity stops at OVERLAY_ALPHA_MIN: fainter, two dense slices showed as a
    # blank panel. Points are rasterised (text and frames stay vector): as vectors, 168k
    # points in eleven panels made a 20 MB PDF.
    size = max(0.05, min(4.0, 2e4 / max(len(xy), 1)))
    alpha = max(OVERLAY_ALPHA_MIN, min(0.8, 2e4 / max(len(xy), 1)))
    for side, colour, name in ((is_x, "tab:red", "source"), (~is_x, "tab:blue", "target")):
        axes[0, 0].scatter(*xy[side].T, s=size, c=colour, alpha=alpha, lw=0, label=name,
                           rasterized=True)
    legend = axes[0, 0].legend(loc="lower right", fontsize=7, markerscale=max(1.0, 4 / size))
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    axes[0, 0].set_title("slices (centred, target rotated)", fontsize=9)
    axes[1, 0].axis("off")
    short = {"binned_transfer": "cos", "plan_inner_product": "plan cos"}
    for k, gene in enumerate(genes, start=1):
        target_binned, moved = smoothed[gene]
        vmax = max(target_binned.max(), moved.max()) or 1.0
        mine = scores[scores["gene"] == gene]
        label = ", ".join(f"{short[d]} = {v:.3f}"
                          for d, v in zip(mine["definition"], mine["cosine_similarity"]))
        for row, (vals, what) in enumerate(((target_binned, "target"), (moved, "moved"))):
            axes[row, k].scatter(
                *xy[~is_x].T, s=size, c=vals, cmap="viridis", vmin=0, vmax=vmax, lw=0,
                rasterized=True,
            )
            axes[row, k].set_title(f"{gene} {what}" + (f"\n{label}" if row else ""), fontsize=9)
    for ax in axes.flat:
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def summarise_transfer(scores: pd.DataFrame, published: pd.DataFrame | None = None,
                       dataset: str = "merfish") -> pd.DataFrame:
    """Mean, standard deviation and count over seeds of the cosine per experiment, n, method,
    formula and gene (``scores``: rows of the per-run score files, with the run's ``cost`` and
    ``params`` as JSON), and ``paper``: the published cosine where the run used the authors'
    estimator and the same formula (:func:`hiref.report.published.compare`) on real data,
    else NaN with the reason in ``paper_note``; ``stand_in`` marks scores of runs on
    stand-in data, which never get a published value."""
    published = pub.load() if published is None else published
    keys = ["experiment", "n", "method", "bins", "definition", "gene"]
    summary = (
        scores.groupby(keys, sort=False)
        .agg(mean=("cosine_similarity", "mean"), sd=("cosine_similarity", "std"),
             runs=("cosine_similarity", "count"), targets_reached=("targets_reached", "min"),
             cost=("cost", "first"), params=("params", lambda p: sorted(set(p))),
             stand_in=("stand_in", "any"))
        .reset_index()
    )
    cosines = published[published["metric"] == "cosine"].set_index(
        ["experiment", "dataset", "method", "n", "gene", "definition"])
    paper, notes = [], []
    for row in summary.itertuples():
        key = (row.experiment, dataset, row.method, row.n, row.gene, row.definition)
        if row.stand_in:
            paper.append(np.nan)
            notes.append(STAND_IN_NOTE)
            continue
        if key not in cosines.index:
            paper.append(np.nan)
            notes.append("")
            continue
        entry = cosines.loc[key]
        reasons = {pub.compare(entry, row.cost, json.loads(p)) for p in row.params} - {None}
        paper.append(np.nan if reasons else entry["value"])
        notes.append(f"value for {row.method} withheld: " + "; ".join(sorted(reasons))
                     if reasons else f"{entry['how']} Source: {entry['source']}.")
    summary["paper"], summary["paper_note"] = paper, notes
    return summary.drop(columns="params")


def transfer_markdown(summary: pd.DataFrame) -> str:
    """One table per cosine formula: a row per method (mean ± sd over seeds), the paper's row
    under it where a published value matches, genes as columns; then what each formula is."""
    genes = list(dict.fromkeys(summary["gene"]))
    bins = ", ".join(f"{b} x {b}" for b in summary["bins"].unique())
    stand_in = bool(summary["stand_in"].any())
    paper = "" if stand_in else (" Paper rows appear where the run used the authors' estimator "
                                 "at the same n.")
    lines = [STAND_IN_HEADING, ""] if stand_in else []
    lines += [
        ("Gene-expression transfer on MERFISH: cosine scores of each method's transport, "
        f"expression averaged over a {bins} grid of bins. The paper used two formulas; a "
        f"score compares only with scores of the same formula (one table each).{paper}"),
    ]
    for definition, group in summary.groupby("definition", sort=True):
        rows = []
        for (method, n), cells in group.groupby(["method", "n"], sort=False):
            cells = cells.set_index("gene").reindex(genes)
            reached = cells["targets_reached"].min()
            ours = {"method": method, "n": n, "source": "ours",
                    "targets reached": f"{reached:.0f}"}
            for gene, m, s in zip(genes, cells["mean"], cells["sd"]):
                ours[gene] = "—" if np.isnan(m) else (
                    f"{m:.3f}" if np.isnan(s) else f"{m:.3f} ± {s:.2g}")
            rows.append(ours)
            if cells["paper"].notna().any():
                rows.append({"method": method, "n": n, "source": "paper", "targets reached": "",
                             **{g: "" if np.isnan(v) else f"{v:.3f}"
                                for g, v in zip(genes, cells["paper"])}})
        notes = sorted(set(group["paper_note"]) - {"", STAND_IN_NOTE})
        names = list(dict.fromkeys(m.split("-")[0] for m in group["method"]))
        papers = [m for m in names if PAPER_FORMULA.get(m) == definition]
        others = [m for m in names if m in PAPER_FORMULA and PAPER_FORMULA[m] != definition]
        scope = (f"Methods scored by it here: {', '.join(names)}. The paper's formula for "
                 f"{', '.join(papers) or 'none of them'}"
                 + (f"; not the paper's for {', '.join(others)} (their published cosines use "
                    "the other formula)" if others else "") + ".")
        lines += ["", f"### {definition}", "", COSINES.get(definition, definition) + ".", "",
                  scope, "", pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)]
        lines += [f"\nPaper: {note}" for note in notes]
    return "\n".join(lines) + "\n"
