from __future__ import annotations

import numpy as np
import pytest

from readlx.comparisons.breakdown import breakdown, by_bit, by_layer
from readlx.errors import ReadlxError


def test_shares_by_bit_pool_inferences(make_ds) -> None:
    outcome = np.array([[[0, 0, 0, 2]], [[1, 1, 0, 0]], [[2, 2, 2, 2]]])  # fault, framework, image
    ds = make_ds(outcome, ["x"], bits=[3, 3, 30])
    b = by_bit(ds)
    assert b.bit.values.tolist() == [3, 30]
    assert b.n_faults.values.tolist() == [2, 1]
    assert b.masked.sel(framework="x").values[0].tolist() == [62.5, 0.0]
    assert b.non_critical.sel(framework="x").values[0].tolist() == [25.0, 0.0]
    assert b.critical.sel(framework="x").values[0].tolist() == [12.5, 100.0]
    for name, var in b.data_vars.items():
        assert var.attrs["units"] in ("percent", "1"), name


def test_layers_keep_network_order(make_ds) -> None:
    ds = make_ds(np.zeros((3, 2, 2)), ["x", "y"], layers=["zeta", "alpha", "zeta"])
    assert by_layer(ds).layer.values.tolist() == ["zeta", "alpha"]


def test_shares_sum_to_100(three_runtimes) -> None:
    b = by_layer(three_runtimes)
    total = b.masked + b.non_critical + b.critical
    np.testing.assert_allclose(total.values, 100.0)


def test_unknown_grouping_lists_the_valid_ones(three_runtimes) -> None:
    with pytest.raises(ReadlxError, match="'kind'; valid: bit, layer"):
        breakdown(three_runtimes, "kind")
