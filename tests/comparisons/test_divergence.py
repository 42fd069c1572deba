from __future__ import annotations

import numpy as np
import pytest

from readlx.comparisons.divergence import (
    contingency_counts,
    divergence,
    format_most_divergent,
    framework_pairs,
    most_divergent,
    sdc1_differences,
)
from readlx.errors import ReadlxError


def test_contingency_table_matches_a_hand_count(make_ds) -> None:
    a = [0, 0, 1, 2, 2, 6]  # the last one is critical with NaN/Inf: the flag is not a class
    b = [0, 1, 1, 2, 1, 2]
    ds = make_ds(np.array([[a, b]]), ["x", "y"])
    dv = divergence(ds)
    table = dv.contingency.sel(pair="x vs y").values[0, 0]
    assert table.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 2]]
    assert int(dv.disagree.values[0, 0, 0]) == 2
    assert table.sum() == 6


def test_count_differences_and_moved_lower_bound(make_ds) -> None:
    ds = make_ds(np.array([[[0, 0, 1, 2], [1, 1, 1, 2]], [[2, 2, 2, 2], [2, 2, 2, 1]]]), ["x", "y"], per_image=False)
    dv = divergence(ds)
    assert dv.d_masked.values[0, 0].tolist() == [-2, 0]
    assert dv.d_non_critical.values[0, 0].tolist() == [2, 1]
    assert dv.d_critical.values[0, 0].tolist() == [0, -1]
    assert dv.moved.values[0, 0].tolist() == [2, 1]
    assert "contingency" not in dv and "disagree" not in dv


def test_disagree_is_at_least_moved(three_runtimes) -> None:
    dv = divergence(three_runtimes)
    assert (dv.disagree >= dv.moved).all()
    assert dv.pair.values.tolist() == ["a vs b", "a vs c", "b vs c"]
    assert dv.framework_b.values.tolist() == ["b", "c", "c"]


def test_every_variable_is_annotated(three_runtimes) -> None:
    dv = divergence(three_runtimes)
    for name, var in dv.data_vars.items():
        assert {"long_name", "units", "description"} <= set(var.attrs), name


def test_sdc1_differences_lists_only_differing_faults(three_runtimes) -> None:
    d = sdc1_differences(three_runtimes, "a", "b")
    assert d.fault.values.tolist() == [5]
    assert abs(int(d.difference.values[0])) == 1
    assert sdc1_differences(three_runtimes, "a", "c").sizes["fault"] == 0  # c only moves masked images


def test_most_divergent_ranks_by_disagreeing_images(three_runtimes) -> None:
    rows = most_divergent(three_runtimes, top=3)
    scores = [r.score for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert {r.bit for r in rows} == {0}  # the low-bit faults moved most
    assert "fault" in format_most_divergent(rows)
    assert format_most_divergent([]).startswith("no fault")


def test_pairs_are_checked(three_runtimes) -> None:
    with pytest.raises(ReadlxError, match="'z' is not in the result; valid: a, b, c"):
        framework_pairs(three_runtimes, [("a", "z")])
    with pytest.raises(ReadlxError, match="two different"):
        framework_pairs(three_runtimes, [("a", "a")])


def test_single_framework_has_no_divergence(make_ds) -> None:
    with pytest.raises(ReadlxError, match="needs two frameworks"):
        divergence(make_ds(np.zeros((1, 1, 2)), ["only"]))


def test_contingency_counts_keeps_leading_axes() -> None:
    a = np.zeros((2, 3, 5), np.int8)
    b = np.ones((2, 3, 5), np.int8)
    t = contingency_counts(a, b)
    assert t.shape == (2, 3, 3, 3)
    assert (t[..., 0, 1] == 5).all() and t.sum() == 30
