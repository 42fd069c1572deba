from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readlx.comparisons.plots import fig_divergence_heatmap, fig_masked_shift, fig_shares, report_plots
from readlx.errors import ReadlxError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_plots_writes_non_empty_pngs(three_runtimes, tmp_path: Path) -> None:
    paths = report_plots(three_runtimes, tmp_path / "figs")
    assert [p.name for p in paths] == ["shares_by_bit.png", "shares_by_layer.png", "divergence_by_bit.png",
                                       "divergence_by_layer.png", "masked_shift.png"]
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, p


def test_one_framework_gets_only_the_share_figures(make_ds, tmp_path: Path) -> None:
    ds = make_ds(np.zeros((2, 1, 3)), ["solo"], per_image=False)
    assert [p.stem for p in report_plots(ds, tmp_path)] == ["shares_by_bit", "shares_by_layer"]


def test_share_figure_has_one_line_per_runtime(three_runtimes) -> None:
    fig = fig_shares(three_runtimes, "bit")
    assert [len(ax.lines) for ax in fig.axes] == [3, 3, 3]
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == ["0", "15", "30"]


def test_heatmap_values_are_disagreement_percentages(make_ds) -> None:
    ds = make_ds(np.array([[[0, 0, 0, 0], [0, 1, 1, 1]]]), ["x", "y"], bits=[7])
    image = fig_divergence_heatmap(ds, "bit").axes[0].images[0]
    assert np.asarray(image.get_array()).tolist() == [[75.0]]


def test_counts_only_heatmap_uses_the_lower_bound(make_ds) -> None:
    ds = make_ds(np.array([[[0, 0, 0, 0], [0, 1, 1, 1]]]), ["x", "y"], per_image=False)
    assert "lower bound" in fig_divergence_heatmap(ds, "layer").axes[0].get_title()


def test_masked_shift_baseline_is_checked(three_runtimes) -> None:
    assert len(fig_masked_shift(three_runtimes, baseline="c").axes[0].lines) == 2 + 1  # two runtimes + zero line
    with pytest.raises(ReadlxError, match="'nope' is not a framework of the result; valid: a, b, c"):
        fig_masked_shift(three_runtimes, baseline="nope")
