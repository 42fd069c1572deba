from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from readlx.comparisons import plot_style
from readlx.comparisons.intervals import paired_t_interval, t_quantile, wilson_interval
from readlx.comparisons.plot_data import difference_points, fault_groups, resolve_baseline, share_points
from readlx.comparisons.plots import fig_differences, fig_divergence_heatmap, fig_shares, report_figures, report_plots
from readlx.comparisons.plots_heatmap import divergence_grid
from readlx.errors import ReadlxError

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}
STEMS = ["shares_by_bit", "shares_by_layer", "differences_by_bit", "differences_by_field", "differences_by_layer",
         "divergence_by_bit", "divergence_by_layer"]


def test_report_plots_writes_png_pdf_and_svg(three_runtimes, tmp_path: Path) -> None:
    paths = report_plots(three_runtimes, tmp_path / "figs")
    assert [p.name for p in paths] == [f"{s}.{f}" for s in STEMS for f in ("png", "pdf", "svg")]
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(MAGIC[p.suffix[1:]]) and len(data) > 5000, p


def test_vector_files_are_reproducible(three_runtimes, tmp_path: Path) -> None:
    first = report_plots(three_runtimes, tmp_path / "a", formats=("pdf", "svg"))
    second = report_plots(three_runtimes, tmp_path / "b", formats=("pdf", "svg"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    with pytest.raises(ReadlxError, match="unknown figure format 'jpg'; valid: png, pdf, svg"):
        report_plots(three_runtimes, tmp_path / "c", formats=("jpg",))


def test_one_framework_gets_only_the_share_figures(make_ds, tmp_path: Path) -> None:
    ds = make_ds(np.zeros((2, 1, 3)), ["solo"], per_image=False)
    assert sorted({p.stem for p in report_plots(ds, tmp_path, formats=("png",))}) == ["shares_by_bit",
                                                                                     "shares_by_layer"]


def _joined_lines(fig: Figure) -> list[str]:
    """Data lines that join points (a grid line or the zero line has two points and spans the axes)."""
    return [str(line.get_label()) for ax in fig.axes for line in ax.get_lines()
            if line.get_linestyle() not in ("None", "none", "") and len(line.get_xdata()) > 2]


def test_bits_are_categories_with_points_not_lines(three_runtimes) -> None:
    fig = fig_shares(three_runtimes, "bit")
    assert _joined_lines(fig) == []
    bottom = fig.axes[2]
    assert [t.get_text() for t in bottom.get_xticklabels()] == ["0", "15", "30"]
    assert bottom.get_xticks().tolist() == [0.0, 1.0, 2.0]  # positions are categories, not bit values
    assert all(any(isinstance(c, LineCollection) for c in ax.collections) for ax in fig.axes[:3])  # error bars


def test_fields_are_shaded_and_labeled(three_runtimes) -> None:
    fig = fig_differences(three_runtimes, "bit", baseline="a")
    texts = {t.get_text() for t in fig.findobj(Text)}
    assert {"mantissa", "exponent"} <= texts and "sign" not in texts  # no fault on bit 31
    spans = [p for p in fig.axes[0].patches if p.get_facecolor()[:3] == to_rgb(plot_style.BAND_SHADES["exponent"])]
    assert len(spans) == 1


def test_fault_counts_are_printed_and_few_faults_are_hollow(make_ds, three_runtimes) -> None:
    fig = fig_shares(three_runtimes, "bit")
    assert "faults per bit" in {t.get_text() for t in fig.findobj(Text)}
    assert fig.legends[0].texts[-1].get_text() == f"hollow: < {plot_style.FEW_FAULTS} faults"
    def points(f: Figure) -> list[Line2D]:  # not the error bars' caps
        return [ln for ln in f.axes[0].get_lines() if len(ln.get_xdata()) and ln.get_marker() in plot_style.MARKERS]

    assert len(points(fig)) == 3 and {ln.get_markerfacecolor() for ln in points(fig)} == {"white"}  # 2 faults a bit
    many = make_ds(np.zeros((6, 2, 3)), ["x", "y"], bits=[4] * 6)
    filled = fig_shares(many, "bit")
    assert [ln.get_markerfacecolor() for ln in points(filled)] == list(plot_style.PALETTE[:2])
    assert [t.get_text() for t in filled.legends[0].texts] == ["x", "y"]  # no hollow entry without hollow points


def test_difference_points_are_paired_means_with_t_intervals(three_runtimes) -> None:
    groups = fault_groups(three_runtimes, "bit")
    p = difference_points(three_runtimes, groups, "masked", "a")
    shares = 100.0 * three_runtimes.masked.isel(model=0).values / 10
    d = shares[[0, 3], 2] - shares[[0, 3], 0]  # runtime c minus a on the two bit-0 faults
    mean, low, high = paired_t_interval(d)
    assert p.frameworks == ("b", "c") and p.n_faults.tolist() == [2, 2, 2]
    assert p.estimate[1, 0] == pytest.approx(mean) and mean < 0
    assert (p.low[1, 0], p.high[1, 0]) == pytest.approx((max(low, -100.0), min(high, 100.0)))
    assert p.estimate[0, :2].tolist() == [0.0, 0.0]  # b differs from a on fault 5 (bit 30) only


def test_share_points_pool_the_group_with_wilson_bounds(three_runtimes) -> None:
    p = share_points(three_runtimes, fault_groups(three_runtimes, "layer"), "critical")
    expected = 100.0 * three_runtimes.critical.isel(model=0).values[:3].sum(axis=0) / 30
    assert p.estimate[:, 0] == pytest.approx(expected)
    assert np.all(p.low <= p.estimate) and np.all(p.estimate <= p.high)


def test_intervals_match_reference_values() -> None:
    assert [round(t_quantile(df), 3) for df in (1, 2, 3, 5, 9, 29)] == [12.706, 4.303, 3.182, 2.571, 2.262, 2.045]
    assert round(t_quantile(4, 0.99), 3) == 4.604
    low, high = wilson_interval(np.array([0.2]), np.array([50]))  # 10 of 50
    assert (round(float(low[0]), 4), round(float(high[0]), 4)) == (0.1124, 0.3304)
    assert np.isnan(wilson_interval(np.array([0.5]), np.array([0]))[0][0])
    assert paired_t_interval(np.array([3.0, 3.0, 3.0])) == (3.0, 3.0, 3.0)
    with pytest.raises(ReadlxError, match="confidence level must be in"):
        t_quantile(3, 1.5)


def test_default_baseline_is_torch_and_is_checked(make_ds, three_runtimes) -> None:
    ds = make_ds(np.zeros((2, 3, 2)), ["keras", "torch", "onnxruntime"])
    assert resolve_baseline(ds, None) == "torch" and resolve_baseline(three_runtimes, None) == "a"
    assert "Differences from torch by bit" in {f.heading for f in report_figures(ds).values()}
    legend = [t.get_text() for t in fig_differences(ds).legends[0].texts]
    assert legend[:2] == ["keras", "onnxruntime"]
    with pytest.raises(ReadlxError, match="'nope' is not a framework of the result; valid: a, b, c"):
        fig_differences(three_runtimes, baseline="nope")


def test_heatmap_values_are_disagreement_percentages(make_ds) -> None:
    ds = make_ds(np.array([[[0, 0, 0, 0], [0, 1, 1, 1]]]), ["x", "y"], bits=[7])
    fig = fig_divergence_heatmap(ds, "bit")
    assert np.asarray(fig.axes[0].images[0].get_array()).tolist() == [[75.0]]
    assert fig.axes[1].get_ylabel() == "inferences classified differently (%)"  # the colour bar
    assert "75" in {t.get_text() for t in fig.axes[0].texts}
    assert any(p.get_hatch() for p in fig.axes[0].patches)  # one fault: hatched


def test_counts_only_heatmap_uses_the_lower_bound(make_ds) -> None:
    ds = make_ds(np.array([[[0, 0, 0, 0], [0, 1, 1, 1]]]), ["x", "y"], per_image=False)
    grid, _, score = divergence_grid(ds, "layer")
    assert score == "moved" and grid.tolist() == [[75.0]]
    assert "lower bound" in fig_divergence_heatmap(ds, "layer").axes[1].get_ylabel()


def test_text_is_readable(three_runtimes) -> None:
    for item in report_figures(three_runtimes).values():
        sizes = [t.get_fontsize() for t in item.figure.findobj(Text) if t.get_text().strip()]
        assert min(sizes) >= 8, item.heading


# Machado, Oliveira & Fernandes (2009), severity 1, on linear RGB
_CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}


def _lab(rgb: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("deficiency", sorted(_CVD))
def test_palette_stays_distinct_under_colour_vision_deficiency(deficiency: str) -> None:
    def simulated(colour: str) -> np.ndarray:
        srgb = np.array(to_rgb(colour))
        linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
        return _lab(np.clip(np.array(_CVD[deficiency]) @ linear, 0.0, 1.0))

    colours = [simulated(c) for c in plot_style.PALETTE[:6]]
    closest = min(float(np.linalg.norm(a - b)) for a, b in itertools.combinations(colours, 2))
    assert closest > 15.0  # CIE76 distance; markers differ as well
    assert len(set(plot_style.MARKERS)) == len(plot_style.MARKERS)
