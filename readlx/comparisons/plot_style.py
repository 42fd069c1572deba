"""The look shared by every figure: palette, markers, font sizes, categorical axes, float32 field bands,
fault counts per point and the files a figure is written to.

Colours are the Okabe-Ito palette (distinguishable under protanopia, deuteranopia and tritanopia;
``tests/comparisons/test_plots.py`` checks the simulated colour distances), and every runtime also has
its own marker, so a figure printed in grey still tells them apart. Each runtime keeps its colour
and marker in every figure (its position among the result's frameworks). Font sizes are set on each
text element, never through the global ``rcParams``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import ScaledTranslation

from readlx._typing import Array
from readlx.comparisons.plot_data import BANDS, Groups
from readlx.errors import ReadlxError

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
"""Okabe-Ito: blue, vermillion, bluish green, reddish purple, orange, sky blue, black (yellow left out:
too light on white)."""
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
BAND_SHADES = {"mantissa": "#f4f4f4", "exponent": "#e0e0e0", "sign": "#c8c8c8"}
FEW_FAULTS = 5
"""Points resting on fewer faults than this are drawn hollow (heatmap columns hatched)."""
TICK, LABEL, TITLE, SUPTITLE, NOTE = 10.5, 11.5, 12.5, 14.0, 9.5
FORMATS = ("png", "pdf", "svg")
PNG_DPI = 150
# no creation date in the vector files: the same Dataset gives the same bytes
_METADATA: dict[str, dict[str, str | None]] = {"png": {}, "pdf": {"CreationDate": None}, "svg": {"Date": None}}


def runtime_style(names: Sequence[str], name: str) -> tuple[str, str]:
    """Colour and marker of runtime ``name`` among the result's runtimes ``names``.

    >>> runtime_style(["torch", "keras"], "keras")
    ('#D55E00', 's')
    """
    i = list(names).index(name)
    return PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]


def offsets(count: int) -> Array:
    """Horizontal offsets that set ``count`` series side by side within one category.

    >>> offsets(3).tolist()
    [-0.22, 0.0, 0.22]
    """
    width = min(0.22, 0.8 / max(count, 1))
    return np.round((np.arange(count) - (count - 1) / 2) * width, 6)


def upright(groups: Groups) -> bool:
    """Whether the tick labels of ``groups`` stand upright (many or long layer names)."""
    return groups.by == "layer" and (len(groups.labels) > 8 or max(map(len, groups.labels)) > 10)


def categorical_axis(ax: Axes, groups: Groups, labels: bool = True, shade: bool = True) -> Array:
    """Positions 0..n-1 for the groups, their tick labels (only when ``labels``), the shaded float32
    fields for bit groupings (when ``shade``); returns the positions."""
    x = np.arange(len(groups.labels), dtype=np.float64)
    ax.set_xlim(-0.5, len(x) - 0.5)
    names = [label.replace(" ", "\n", 1) for label in groups.labels] if groups.by == "field" else list(groups.labels)
    ax.set_xticks(x, names if labels else [], rotation=90 if upright(groups) else 0, fontsize=TICK)
    ax.tick_params(axis="y", labelsize=TICK)
    ax.tick_params(axis="x", length=3 if upright(groups) else 0)
    if shade:
        shade_fields(ax, groups)
    return x


def band_spans(groups: Groups) -> list[tuple[str, float, float]]:
    spans = []
    for name, lo, hi in BANDS:
        inside = [i for i, b in enumerate(groups.bits or ()) if lo <= b <= hi]
        if inside:
            spans.append((name, min(inside) - 0.5, max(inside) + 0.5))
    return spans


def shade_fields(ax: Axes, groups: Groups) -> None:
    """Shade the sign, exponent and mantissa groups of a bit axis (nothing for layers)."""
    for name, start, end in band_spans(groups):
        ax.axvspan(start, end, color=BAND_SHADES[name], zorder=0, linewidth=0)


def label_fields(ax: Axes, groups: Groups, xlabel: str) -> None:
    """Name the shaded fields under the tick labels of a bit axis (a bracket and a name per field), and
    put ``xlabel`` under them; offsets are in points, so they do not depend on the axes' height."""
    spans = band_spans(groups) if groups.by == "bit" else []
    ax.set_xlabel(xlabel, fontsize=LABEL, labelpad=30 if spans else 4)
    drop = ScaledTranslation(0, -(TICK + 12) / 72, ax.figure.dpi_scale_trans)
    for name, start, end in spans:
        ax.add_line(Line2D([start + 0.12, end - 0.12], [0, 0], transform=ax.get_xaxis_transform() + drop,
                           color="#555555", linewidth=1.2, clip_on=False))
        ax.annotate(name, xy=((start + end) / 2, 0), xycoords=ax.get_xaxis_transform(),
                    xytext=(0, -(TICK + 14)), textcoords="offset points", ha="center", va="top",
                    fontsize=LABEL, fontweight="bold", annotation_clip=False)


def label_counts(ax: Axes, x: Array, n_faults: Array, what: str) -> None:
    """The number of faults behind each group on a second x axis above ``ax``."""
    top = ax.secondary_xaxis("top")
    top.set_xticks(x, [str(int(n)) for n in n_faults], fontsize=NOTE,
                   rotation=90 if len(x) > 40 else 0)
    top.tick_params(axis="x", length=0, pad=2)
    top.set_xlabel(f"faults per {what}", fontsize=NOTE)


def draw_points(ax: Axes, x: Array, estimate: Array, low: Array, high: Array, n_faults: Array,
                colour: str, marker: str) -> None:
    """Points with interval bars; hollow where fewer than :data:`FEW_FAULTS` faults stand behind them."""
    ok = np.isfinite(low) & np.isfinite(high) & np.isfinite(estimate)
    below = np.maximum(estimate - low, 0.0)
    above = np.maximum(high - estimate, 0.0)
    ax.errorbar(x[ok], estimate[ok], yerr=np.stack([below[ok], above[ok]]), fmt="none", ecolor=colour,
                elinewidth=1.3, capsize=2.5, zorder=2)
    few = n_faults < FEW_FAULTS
    for hollow in (False, True):
        sel = (few == hollow) & np.isfinite(estimate)
        ax.plot(x[sel], estimate[sel], linestyle="none", marker=marker, markersize=6.5, color=colour,
                markerfacecolor="white" if hollow else colour, markeredgewidth=1.4, zorder=3)


def legend_handles(names: Sequence[str], all_names: Sequence[str], hollow: bool = True) -> list[Line2D | Patch]:
    """One entry per runtime drawn, then (when ``hollow``) the hollow-marker entry."""
    handles: list[Line2D | Patch] = []
    for name in names:
        colour, marker = runtime_style(all_names, name)
        handles.append(Line2D([], [], color=colour, marker=marker, linestyle="none", markersize=7, label=name))
    if hollow:
        handles.append(Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none",
                              markersize=7, label=f"hollow: < {FEW_FAULTS} faults"))
    return handles


def at_least(ax: Axes, half_span: float) -> None:
    """Widen the y range of ``ax`` to at least ``[-half_span, half_span]`` (a flat zero stays readable)."""
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, -half_span), max(high, half_span))


def style_panel(ax: Axes, ylabel: str) -> None:
    ax.set_ylabel(ylabel, fontsize=LABEL)
    ax.grid(axis="y", alpha=0.35, zorder=1)
    ax.set_axisbelow(True)


def save_figure(fig: Figure, directory: Path, stem: str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``directory/stem.FORMAT`` for each format; return the paths."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReadlxError(f"unknown figure format {unknown[0]!r}; valid: {', '.join(FORMATS)}")
    paths = []
    with rc_context({"svg.hashsalt": "readlx"}):  # fixed SVG element ids instead of random ones; restored
        for fmt in formats:
            path = directory / f"{stem}.{fmt}"
            fig.savefig(path, format=fmt, dpi=PNG_DPI, metadata=_METADATA[fmt])
            paths.append(path)
    return paths
