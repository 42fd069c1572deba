"""The divergence heatmap: share of inferences two runtimes classify differently, per pair and group."""
from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from readlx._typing import Array
from readlx.comparisons import plot_style as st
from readlx.comparisons.divergence import divergence
from readlx.comparisons.plot_data import fault_groups

CMAP = "Blues"
"""One hue, lightness rising with the value: readable under every colour-vision deficiency and in grey;
no divergence is white."""
ANNOTATE_MAX_CELLS = 200
_XLABEL = {"bit": "bit position (0 = mantissa LSB, 31 = sign)", "field": "bits of the float32 word",
           "layer": "layer (network order)"}


def divergence_grid(ds: xr.Dataset, by: str = "bit", model: int = 0) -> tuple[Array, list[str], str]:
    """Percent of inferences classified differently, shape (pair, group), the pair labels and the score
    used: ``disagree`` with per-image outcomes, else ``moved`` (a lower bound).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> grid, pairs, score = divergence_grid(toy_dataset(), "layer")
    >>> grid.tolist(), pairs, score
    ([[100.0, 0.0]], ['a vs b'], 'disagree')
    """
    dv = divergence(ds).isel(model=model)
    score = "disagree" if "disagree" in dv else "moved"
    groups = fault_groups(ds, by)
    n = groups.n_faults
    values = 100.0 * dv[score].values.astype(np.float64) / int(ds.attrs["n_images"])  # pair, fault
    grid = np.stack([np.bincount(groups.member, row, len(n)) / n for row in values])
    return grid, [str(p) for p in dv.pair.values], score


def _annotate(ax: Axes, grid: Array, norm: Normalize) -> None:
    if grid.size > ANNOTATE_MAX_CELLS:
        return
    for (i, j), v in np.ndenumerate(grid):
        text = "0" if v == 0 else (f"{v:.2g}" if v < 10 else f"{v:.0f}")
        ax.text(j, i, text, ha="center", va="center", fontsize=st.NOTE - 1,
                color="white" if norm(v) > 0.55 else "black")


def _hatch_few(ax: Axes, n_faults: Array, rows: int) -> None:
    for j in np.flatnonzero(n_faults < st.FEW_FAULTS):
        ax.add_patch(Rectangle((j - 0.5, -0.5), 1.0, rows, fill=False, hatch="//", edgecolor="#9a9a9a",
                               linewidth=0, alpha=0.6))


def fig_divergence_heatmap(ds: xr.Dataset, by: str = "bit", model: int = 0) -> Figure:
    """Share of inferences classified differently, per runtime pair × ``by`` group (``"bit"``,
    ``"field"`` or ``"layer"``), each cell labeled with its value and each column with its faults.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> fig_divergence_heatmap(toy_dataset(), "layer").axes[1].get_ylabel()
    'inferences classified differently (%)'
    """
    groups = fault_groups(ds, by)
    grid, pairs, score = divergence_grid(ds, by, model)
    width = max(8.0, 0.42 * len(groups.labels) + 4.5)
    height = 2.4 + 0.55 * len(pairs) + (1.6 if st.upright(groups) else 0.6)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    norm = Normalize(0.0, max(float(np.nanmax(grid)) if grid.size else 0.0, 1e-9))
    image = ax.imshow(grid, aspect="auto", cmap=CMAP, norm=norm, interpolation="nearest")
    x = st.categorical_axis(ax, groups, shade=False)
    ax.set_ylim(len(pairs) - 0.5, -0.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(len(x) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(pairs) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="#d0d0d0", linewidth=0.6)
    ax.tick_params(which="minor", length=0)
    for _, start, _ in st.band_spans(groups)[1:]:
        ax.axvline(start, color="#333333", linewidth=1.6)
    ax.set_yticks(np.arange(len(pairs)), pairs, fontsize=st.TICK)
    _annotate(ax, grid, norm)
    _hatch_few(ax, groups.n_faults, len(pairs))
    st.label_counts(ax, x, groups.n_faults, {"bit": "bit", "field": "field", "layer": "layer"}[by])
    st.label_fields(ax, groups, _XLABEL[by])
    label = ("inferences classified differently (%)" if score == "disagree"
             else "inferences moved between classes,\nlower bound (%)")
    bar = fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04)
    bar.set_label(label, fontsize=st.LABEL)
    bar.ax.tick_params(labelsize=st.TICK)
    fig.suptitle(f"Divergence by {by}: {label.replace(chr(10), ' ')} - "
                 f"{ds.attrs.get('model_name', str(ds.model.values[0]))}, {ds.attrs['n_images']} images per fault",
                 fontsize=st.SUPTITLE)
    return fig
