from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.comparisons.breakdown import by_bit
from readlx.comparisons.cf import missing_cf, write_derived
from readlx.comparisons.divergence import divergence, sdc1_differences
from readlx.errors import ReadlxError


@pytest.mark.parametrize("derive", [divergence, by_bit, lambda ds: sdc1_differences(ds, "a", "b")])
def test_derived_datasets_round_trip_with_cf_attributes(three_runtimes, tmp_path: Path, derive) -> None:
    derived = derive(three_runtimes)
    assert missing_cf(derived) == []
    path = write_derived(derived, tmp_path / "d.nc")
    with xr.open_dataset(path, engine="netcdf4") as back:
        loaded = back.load()
    for name, var in derived.data_vars.items():
        np.testing.assert_array_equal(loaded[name].values, var.values)
        for key in ("long_name", "units", "description"):
            assert loaded[name].attrs[key] == var.attrs[key]


def test_export_refuses_undocumented_variables(tmp_path: Path) -> None:
    with pytest.raises(ReadlxError, match=r"\['x'\] lack one of"):
        write_derived(xr.Dataset({"x": ("d", [1])}), tmp_path / "x.nc")
