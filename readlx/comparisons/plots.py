"""Figures of a campaign Dataset (matplotlib, drawn off-screen; nothing is shown).

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot, so no global figure
state is touched and no window opens; :func:`report_plots` writes them as PNG, PDF and SVG files.
Bits and layers are categories: each group of faults is a point with its confidence interval (never
a line joining groups), the number of faults behind it is printed above it, and points resting on
fewer than :data:`~readlx.comparisons.plot_style.FEW_FAULTS` faults are hollow. The runtimes'
differences are drawn as differences from a baseline runtime (``torch`` when present).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from readlx._typing import Array
from readlx.comparisons import plot_style as st
from readlx.comparisons.divergence import frameworks
from readlx.comparisons.intervals import LEVEL
from readlx.comparisons.plot_data import (
    Groups,
    difference_points,
    fault_groups,
    resolve_baseline,
    share_points,
)
from readlx.comparisons.plots_heatmap import fig_divergence_heatmap

__all__ = ["ReportFigure", "fig_differences", "fig_divergence_heatmap", "fig_shares", "report_figures",
           "report_plots"]

CLASSES = (("masked", "masked"), ("non_critical", "non-critical"), ("critical", "critical (SDC-1)"))
SEGMENTATION_CLASSES = (("masked", "masked"), ("non_critical", "tolerable"), ("critical", "critical"))
_AXIS_NAMES = {"bit": "bit position (0 = mantissa LSB, 31 = sign)", "field": "bits of the float32 word",
               "layer": "layer (network order)"}
_COUNTED = {"bit": "bit", "field": "field", "layer": "layer"}


def _classes(ds: xr.Dataset) -> tuple[tuple[str, str], ...]:
    return SEGMENTATION_CLASSES if ds.attrs.get("classifier") == "segmentation" else CLASSES


def _title(ds: xr.Dataset) -> str:
    return f"{ds.attrs.get('model_name', str(ds.model.values[0]))}, {ds.attrs['n_images']} images per fault"


def _panels(groups: Groups, rows: int) -> tuple[Figure, list[Axes]]:
    width = max(9.0, 0.34 * len(groups.labels) * (1.6 if groups.by == "field" else 1.0) + 3.5)
    height = 2.6 * rows + (2.6 if st.upright(groups) else 1.8)
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def _finish(fig: Figure, axes: Sequence[Axes], groups: Groups, x: Array, names: Sequence[str],
            all_names: Sequence[str], title: str) -> None:
    st.label_counts(axes[0], x, groups.n_faults, _COUNTED[groups.by])
    st.label_fields(axes[-1], groups, _AXIS_NAMES[groups.by])
    hollow = bool((groups.n_faults < st.FEW_FAULTS).any())
    fig.legend(handles=st.legend_handles(names, all_names, hollow), loc="outside right center", fontsize=st.LABEL,
               frameon=False)
    fig.suptitle(title, fontsize=st.SUPTITLE)


def fig_shares(ds: xr.Dataset, by: str = "bit", model: int = 0, level: float = LEVEL) -> Figure:
    """Each runtime's outcome shares per ``by`` group (``"bit"``, ``"field"`` or ``"layer"``), one panel
    per class, with Wilson intervals on the group's faults.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> len(fig_shares(toy_dataset(), "layer").axes) >= 3
    True
    """
    groups = fault_groups(ds, by)
    names = frameworks(ds)
    classes = _classes(ds)
    fig, axes = _panels(groups, len(classes))
    shift = st.offsets(len(names))
    for ax, (var, label) in zip(axes, classes, strict=True):
        x = st.categorical_axis(ax, groups, labels=ax is axes[-1])
        p = share_points(ds, groups, var, model, level)
        for k, name in enumerate(names):
            colour, marker = st.runtime_style(names, name)
            st.draw_points(ax, x + shift[k], p.estimate[k], p.low[k], p.high[k], p.n_faults, colour, marker)
        ax.set_ylim(-4.0, 104.0)
        st.style_panel(ax, f"{label} %")
    _finish(fig, axes, groups, x, names, names,
            f"Outcome shares by {by} - {_title(ds)}\n{100 * level:g} % Wilson intervals, faults as units")
    return fig


def fig_differences(ds: xr.Dataset, by: str = "bit", baseline: str | None = None, model: int = 0,
                    level: float = LEVEL) -> Figure:
    """Each runtime's outcome shares minus the baseline's, per ``by`` group, one panel per class: the
    mean per-fault paired difference (percentage points) with its paired Student-t interval.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> fig = fig_differences(toy_dataset(), "bit", baseline="a")
    >>> fig.axes[0].get_ylabel()
    'masked: pp vs a'
    """
    groups = fault_groups(ds, by)
    baseline = resolve_baseline(ds, baseline)
    names = frameworks(ds)
    classes = _classes(ds)
    fig, axes = _panels(groups, len(classes))
    others = [n for n in names if n != baseline]
    shift = st.offsets(len(others))
    for ax, (var, label) in zip(axes, classes, strict=True):
        x = st.categorical_axis(ax, groups, labels=ax is axes[-1])
        p = difference_points(ds, groups, var, baseline, model, level)
        for k, name in enumerate(p.frameworks):
            colour, marker = st.runtime_style(names, name)
            st.draw_points(ax, x + shift[k], p.estimate[k], p.low[k], p.high[k], p.n_faults, colour, marker)
        ax.axhline(0.0, color="black", linewidth=0.9, zorder=1)
        st.at_least(ax, 1.0)
        st.style_panel(ax, f"{label}: pp vs {baseline}")
    _finish(fig, axes, groups, x, others, names,
            f"Shares minus {baseline}'s by {by} - {_title(ds)}\nmean per-fault difference, "
            f"{100 * level:g} % paired t intervals")
    return fig


@dataclass(frozen=True)
class ReportFigure:
    """A report figure with the heading and caption the HTML page shows under it."""

    figure: Figure
    heading: str
    caption: str


def _caption(kind: str, baseline: str) -> str:
    few = f"Hollow markers: fewer than {st.FEW_FAULTS} faults behind the point; the number above each column " \
          "is the number of faults in the group."
    if kind == "shares":
        return ("Pooled share of each runtime's inferences per group. Bars: 95 % Wilson score interval "
                "with the fault as the sampled unit (n = faults in the group), which bounds the spread of "
                f"partly masked faults from above. {few}")
    if kind == "differences":
        return (f"Each runtime's share minus {baseline}'s, in percentage points: the mean over the group's "
                f"faults of the per-fault difference (same fault, same images). Bars: 95 % paired Student-t "
                f"interval of that mean (none with one fault; zero width when every fault of the group "
                f"differs by the same amount). {few}")
    return ("Share of inferences classified differently by each pair of runtimes (per-image outcomes), or "
            "the least share of images that must have moved between classes (counts only). Hatched "
            f"columns rest on fewer than {st.FEW_FAULTS} faults; the number above each column is the "
            "number of faults in the group.")


def report_figures(ds: xr.Dataset, baseline: str | None = None) -> dict[str, ReportFigure]:
    """The report's figures by file stem (the difference and divergence figures need two runtimes)."""
    figures = {f"shares_by_{by}": ReportFigure(fig_shares(ds, by), f"Outcome shares by {by}", _caption("shares", ""))
               for by in ("bit", "layer")}
    if ds.sizes["framework"] > 1:
        baseline = resolve_baseline(ds, baseline)
        for by in ("bit", "field", "layer"):
            figures[f"differences_by_{by}"] = ReportFigure(
                fig_differences(ds, by, baseline), f"Differences from {baseline} by {by}",
                _caption("differences", baseline))
        for by in ("bit", "layer"):
            figures[f"divergence_by_{by}"] = ReportFigure(
                fig_divergence_heatmap(ds, by), f"Divergence between runtimes by {by}", _caption("divergence", ""))
    return figures


def report_plots(ds: xr.Dataset, directory: str | Path, baseline: str | None = None,
                 formats: Sequence[str] = st.FORMATS) -> list[Path]:
    """Write the report's figures into ``directory`` (created), each as PNG, PDF and SVG (or
    ``formats``); return the paths written.

    >>> import tempfile
    >>> from readlx.comparisons.examples import toy_dataset
    >>> with tempfile.TemporaryDirectory() as d:
    ...     [p.name for p in report_plots(toy_dataset(), d)][:3]
    ['shares_by_bit.png', 'shares_by_bit.pdf', 'shares_by_bit.svg']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for stem, item in report_figures(ds, baseline).items():
        paths += st.save_figure(item.figure, directory, stem, formats)
    return paths
