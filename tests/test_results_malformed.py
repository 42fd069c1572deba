"""Malformed result files: every command that reads one refuses it by file and field, writing nothing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.cli import main
from readlx.comparisons.examples import toy_dataset
from readlx.errors import ResultFileError
from readlx.results import cf_encoded, read_netcdf, write_netcdf


def _raw(ds: xr.Dataset, path: Path) -> Path:
    """Written as given, without the checks of :func:`write_netcdf`."""
    cf_encoded(ds).to_netcdf(path, engine="netcdf4")
    return path


def _changed(change: Callable[[xr.Dataset], xr.Dataset]) -> Callable[[Path], Path]:
    return lambda path: _raw(change(toy_dataset()), path)


def _truncated(path: Path) -> Path:
    full = write_netcdf(toy_dataset(), path.with_name("full.nc"))
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    return path


def _damaged(path: Path) -> Path:
    data = bytearray(write_netcdf(toy_dataset(), path.with_name("full.nc")).read_bytes())
    data[600:1400] = b"\xff" * 800
    path.write_bytes(bytes(data))
    return path


def _negative(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy(deep=True)
    ds["masked"].values[0, 0, 0] = -1
    ds["critical"].values[0, 0, 0] = 3
    return ds


def _not_adding_up(ds: xr.Dataset) -> xr.Dataset:
    ds = ds.copy(deep=True)
    ds["masked"].values[0, 0, 0] += 1
    return ds


CASES: dict[str, tuple[Callable[[Path], Path], str | None]] = {
    "garbage": (lambda p: (p.write_bytes(b"\x89garbage" * 40), p)[1], None),
    "empty NetCDF": (lambda p: (p.write_bytes(b"CDF\x01" + b"\x00" * 28), p)[1], "schema"),
    "truncated": (_truncated, None),
    "damaged HDF": (_damaged, None),
    "a directory": (lambda p: (p.mkdir(), p)[1], None),
    "missing variable": (_changed(lambda ds: ds.drop_vars("critical")), "critical"),
    "missing coordinate": (_changed(lambda ds: ds.drop_vars("layer")), "layer"),
    "no n_images": (_changed(lambda ds: ds.assign_attrs(n_images="x")), "n_images"),
    "n_images 0": (_changed(lambda ds: ds.assign_attrs(n_images=0)), "n_images"),
    "negative counts": (_changed(_negative), "masked"),
    "counts not adding up": (_changed(_not_adding_up), "masked"),
    "float counts": (_changed(lambda ds: ds.assign(masked=ds.masked.astype(np.float64) + 0.5)), "masked"),
    "another schema": (_changed(lambda ds: ds.assign_attrs(schema="other-1")), "schema"),
}
READERS = {
    "report": lambda path, out: ["report", str(path), "--html", str(out / "r.html")],
    "merge": lambda path, out: ["merge", str(path), "-o", str(out / "m.nc")],
    "explain": lambda path, out: ["numerics", "explain", str(path), "--published", str(path)],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_read_netcdf_names_the_problem(tmp_path: Path, case: str) -> None:
    make, field = CASES[case]
    path = make(tmp_path / "r.nc")
    with pytest.raises(ResultFileError) as err:
        read_netcdf(path)
    assert err.value.path == str(path) and err.value.field == field, str(err.value)


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_commands_refuse_malformed_results(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                           reader: str) -> None:
    path = CASES[case][0](tmp_path / "r.nc")
    out = tmp_path / "out"
    out.mkdir()
    assert main(READERS[reader](path, out)) == 2
    assert str(path) in capsys.readouterr().err
    assert list(out.iterdir()) == []
