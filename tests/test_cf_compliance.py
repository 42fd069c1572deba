"""A campaign file, a merged file and a derived file pass a real CF checker: the CF-1.10 suite of the IOOS
compliance-checker (``pip install compliance-checker``; its cf-units wheel carries UDUNITS-2).

The checker's errors (its failed checks of high priority, and checks that crash on the file) must be
none; its recommendations (medium and low priority) may fail, and are listed by :func:`_failures`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

import readlx
from readlx.campaign.scaleout import merge_files
from readlx.comparisons.breakdown import by_layer
from readlx.comparisons.cf import write_derived
from readlx.comparisons.divergence import divergence
from readlx.results import write_netcdf

checker = pytest.importorskip(
    "compliance_checker.runner", reason="the CF checker is not installed: pip install compliance-checker")

SUITE = "cf:1.10"
MODEL = "democnn-synthetic10"
HIGH = 3


def _failures(path: Path) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """The checks that crashed, and (priority, message) of every failed check of the CF suite."""
    suite = checker.CheckSuite()
    suite.load_all_available_checkers()
    nc = suite.load_dataset(str(path))
    try:
        results, crashed = suite.run_all(nc, [SUITE], skip_checks=[])[SUITE]
    finally:
        nc.close()
    failed = []
    for r in results:
        value = r.value
        if value is False or (isinstance(value, tuple) and value[0] < value[1]):
            failed += [(int(r.weight), str(m)) for m in r.msgs] or [(int(r.weight), str(r.name))]
    return crashed, failed


def _assert_cf_valid(path: Path) -> list[str]:
    crashed, failed = _failures(path)
    assert not crashed, f"the checker could not check {path.name}: {sorted(crashed)}"
    errors = [m for w, m in failed if w >= HIGH]
    assert not errors, f"{path.name}: {errors}"
    return [m for w, m in failed if w < HIGH]


@pytest.fixture(scope="module")
def campaign() -> xr.Dataset:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((8, 3, 16, 16)).astype(np.float32), rng.integers(0, 10, 8)
    return readlx.run(MODEL, data, sample=6, frameworks=("torch", "reference-direct-float32"), per_image=True,
                      progress=False)


def test_campaign_file_is_cf_valid(campaign: xr.Dataset, tmp_path: Path) -> None:
    warnings = _assert_cf_valid(write_netcdf(campaign, tmp_path / "campaign.nc"))
    # the only recommendation left: runtime names hold '-', so do the mode_<framework> attribute names
    assert all("mode_reference-direct-float32" in w for w in warnings), warnings


def test_merged_file_is_cf_valid(campaign: xr.Dataset, tmp_path: Path) -> None:
    paths = [write_netcdf(campaign.isel(fault=part).assign_attrs(shard_index=i, shard_count=2), tmp_path / f"{i}.nc")
             for i, part in enumerate((slice(0, 3), slice(3, None)))]
    merge_files(paths, tmp_path / "merged.nc")
    _assert_cf_valid(tmp_path / "merged.nc")


@pytest.mark.parametrize("derive", [divergence, by_layer])
def test_derived_file_is_cf_valid(campaign: xr.Dataset, tmp_path: Path, derive) -> None:
    path = write_derived(derive(campaign), tmp_path / "derived.nc", source=campaign)
    assert _assert_cf_valid(path) == []
