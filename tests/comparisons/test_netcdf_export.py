from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.comparisons.breakdown import by_bit
from readlx.comparisons.cf import missing_cf, write_derived
from readlx.comparisons.divergence import divergence, sdc1_differences
from readlx.errors import ReadlxError
from readlx.results import COUNT_UNITS


@pytest.mark.parametrize("derive", [divergence, by_bit, lambda ds: sdc1_differences(ds, "a", "b")])
def test_derived_datasets_round_trip_with_cf_attributes(three_runtimes, tmp_path: Path, derive) -> None:
    derived = derive(three_runtimes)
    assert missing_cf(derived) == []
    path = write_derived(derived, tmp_path / "d.nc")
    with xr.open_dataset(path, engine="netcdf4") as back:
        loaded = back.load()
    for name, var in derived.data_vars.items():
        np.testing.assert_array_equal(loaded[name].values, var.values)
        for key in ("long_name", "description"):
            assert loaded[name].attrs[key] == var.attrs[key]
        assert loaded[name].attrs["units"] == COUNT_UNITS.get(var.attrs["units"], var.attrs["units"])
    assert all("long_name" in loaded[name].attrs for name in loaded.coords)
    assert loaded.attrs["Conventions"] == "CF-1.10" and loaded.attrs["history"].count("\n") == 0


def test_derived_file_history_continues_the_campaign_s(three_runtimes, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = three_runtimes.assign_attrs(history="2026-01-01T00:00:00Z: readlx run m -o m.nc")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767312000")
    with xr.open_dataset(write_derived(by_bit(campaign), tmp_path / "bits.nc", source=campaign,
                                       what="readlx report m.nc")) as back:
        assert back.attrs["history"].splitlines() == ["2026-01-01T00:00:00Z: readlx run m -o m.nc",
                                                      "2026-01-02T00:00:00Z: readlx report m.nc"]
        assert back.attrs["date_created"] == "2026-01-02T00:00:00Z"
        assert back.bit.attrs["valid_range"].dtype == back.bit.dtype  # CF: data-valued attributes in its type


def test_export_refuses_undocumented_variables(tmp_path: Path) -> None:
    with pytest.raises(ReadlxError, match=r"\['x'\] lack one of"):
        write_derived(xr.Dataset({"x": ("d", [1])}), tmp_path / "x.nc")
