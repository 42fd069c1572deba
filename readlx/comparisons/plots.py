"""Figures of a campaign Dataset (matplotlib, drawn off-screen; nothing is shown).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so no global figure
state is touched and no window opens; :func:`report_plots` writes them as PNG files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from readlx.comparisons.breakdown import breakdown
from readlx.comparisons.divergence import divergence, frameworks
from readlx.errors import ReadlxError

CLASSES = (("masked", "masked"), ("non_critical", "non-critical"), ("critical", "critical (SDC-1)"))
SEGMENTATION_CLASSES = (("masked", "masked"), ("non_critical", "tolerable"), ("critical", "critical"))


def _classes(ds: xr.Dataset) -> tuple[tuple[str, str], ...]:
    return SEGMENTATION_CLASSES if ds.attrs.get("classifier") == "segmentation" else CLASSES


def _title(ds: xr.Dataset) -> str:
    return f"{ds.attrs.get('model_name', str(ds.model.values[0]))}, {ds.attrs['n_images']} images per fault"


def fig_shares(ds: xr.Dataset, by: str = "bit", model: int = 0) -> Figure:
    """Outcome shares per ``by`` group (bit or layer), one line per runtime, one panel per class.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> len(fig_shares(toy_dataset(), "layer").axes)
    3
    """
    b = breakdown(ds, by).isel(model=model)
    labels = [str(v) for v in b[by].values]
    x = np.arange(len(labels))
    fig = Figure(figsize=(max(7.0, 0.35 * len(labels) + 3), 8.0), layout="constrained")
    classes = _classes(ds)
    axes = fig.subplots(len(classes), 1, sharex=True)
    for ax, (var, name) in zip(axes, classes, strict=True):
        for fw in b.framework.values:
            ax.plot(x, b[var].sel(framework=fw).values, marker="o", markersize=3, label=str(fw))
        ax.set_ylabel(f"{name} %")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    axes[-1].set_xticks(x, labels, rotation=90 if by == "layer" else 0, fontsize="small")
    axes[-1].set_xlabel("bit position (0 = mantissa LSB)" if by == "bit" else "layer")
    fig.suptitle(f"Outcome shares by {by} - {_title(ds)}")
    return fig


def fig_divergence_heatmap(ds: xr.Dataset, by: str = "bit", model: int = 0) -> Figure:
    """Share of inferences classified differently, per framework pair × ``by`` group.

    Uses ``disagree`` with per-image outcomes, else ``moved`` (a lower bound).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> fig_divergence_heatmap(toy_dataset(), "layer").axes[0].get_title()
    'inferences classified differently (%)'
    """
    dv = divergence(ds).isel(model=model)
    score = "disagree" if "disagree" in dv else "moved"
    keys = dv[by].values
    groups = sorted(set(keys.tolist())) if by == "bit" else list(dict.fromkeys(keys.tolist()))
    n_images = int(ds.attrs["n_images"])
    grid = np.stack([100.0 * dv[score].values[:, keys == g].mean(axis=1) / n_images for g in groups], axis=1)
    fig = Figure(figsize=(max(7.0, 0.35 * len(groups) + 4), 1.2 + 0.5 * len(dv.pair)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups], rotation=90 if by == "layer" else 0,
                  fontsize="small")
    ax.set_yticks(np.arange(len(dv.pair)), [str(p) for p in dv.pair.values], fontsize="small")
    ax.set_xlabel("bit position" if by == "bit" else "layer")
    ax.set_title("inferences classified differently (%)" if score == "disagree"
                 else "inferences moved between classes, lower bound (%)")
    fig.colorbar(image, ax=ax)
    fig.suptitle(f"Divergence by {by} - {_title(ds)}")
    return fig


def fig_masked_shift(ds: xr.Dataset, baseline: str | None = None, model: int = 0) -> Figure:
    """Masked share of each runtime minus the baseline's, by bit and by layer (percentage points).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> len(fig_masked_shift(toy_dataset()).axes)
    2
    """
    names = frameworks(ds)
    baseline = baseline or names[0]
    if baseline not in names:
        raise ReadlxError(f"baseline {baseline!r} is not a framework of the result; valid: {', '.join(names)}")
    fig = Figure(figsize=(10.0, 7.0), layout="constrained")
    axes = fig.subplots(2, 1)
    for ax, by in zip(axes, ("bit", "layer"), strict=True):
        b = breakdown(ds, by).isel(model=model)
        labels = [str(v) for v in b[by].values]
        x = np.arange(len(labels))
        base = b.masked.sel(framework=baseline).values
        for fw in names:
            if fw != baseline:
                ax.plot(x, b.masked.sel(framework=fw).values - base, marker="o", markersize=3, label=fw)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(x, labels, rotation=90 if by == "layer" else 0, fontsize="small")
        ax.set_ylabel(f"masked % minus {baseline}")
        ax.set_xlabel("bit position" if by == "bit" else "layer")
        ax.grid(alpha=0.3)
        if len(names) > 1:
            ax.legend(fontsize="small")
    fig.suptitle(f"Masked-share shift versus {baseline} - {_title(ds)}")
    return fig


def report_figures(ds: xr.Dataset) -> dict[str, Figure]:
    """The report's figures by file stem (the divergence figures need two frameworks)."""
    figures = {"shares_by_bit": fig_shares(ds, "bit"), "shares_by_layer": fig_shares(ds, "layer")}
    if ds.sizes["framework"] > 1:
        figures.update(
            divergence_by_bit=fig_divergence_heatmap(ds, "bit"),
            divergence_by_layer=fig_divergence_heatmap(ds, "layer"),
            masked_shift=fig_masked_shift(ds),
        )
    return figures


def report_plots(ds: xr.Dataset, directory: str | Path) -> list[Path]:
    """Write the report's figures as PNG files into ``directory`` (created); return their paths.

    >>> import tempfile
    >>> from readlx.comparisons.examples import toy_dataset
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in report_plots(toy_dataset(), d)][:2]
    ['shares_by_bit.png', 'shares_by_layer.png']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, fig in report_figures(ds).items():
        path = directory / f"{stem}.png"
        fig.savefig(path, format="png", dpi=100)
        paths.append(path)
    return paths
