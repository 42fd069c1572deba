from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readlx.errors import ResultFileError
from readlx.fault_maps.fault import Fault, FaultKind
from readlx.fault_maps.faultlist import FaultList, Sampling
from readlx.outcomes.records import COUNT_FIELDS, FaultRecords, GoldenRecord
from readlx.results import make_dataset, read_netcdf, write_netcdf

FRAMEWORKS = ("torch", "keras", "onnxruntime")


@st.composite
def datasets(draw: st.DrawFn) -> xr.Dataset:
    n_faults = draw(st.integers(1, 6))
    n_fw = draw(st.integers(1, 3))
    n_img = draw(st.integers(1, 9))
    per_image = draw(st.booleans())
    faults = tuple(
        Fault(
            draw(st.sampled_from(["conv1", "layer1.0.conv2", "linear"])),
            tuple(draw(st.lists(st.integers(0, 63), min_size=2, max_size=4))),
            draw(st.integers(0, 31)),
            draw(st.sampled_from(list(FaultKind))),
        )
        for _ in range(n_faults)
    )
    ids = draw(st.lists(st.integers(0, 10**6), min_size=n_faults, max_size=n_faults, unique=True))
    sampling = Sampling(1000, 10, 0.01, 0.99, 0.5, 2.58, draw(st.integers(0, 99)), "paper")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fws = FRAMEWORKS[:n_fw]
    records = {}
    for fw in fws:
        split = rng.multinomial(n_img, [1 / 3] * 3, n_faults)  # every image gets one outcome
        counts = {"masked": split[:, 0], "non_critical": split[:, 1], "critical": split[:, 2],
                  "nan_or_inf": rng.integers(0, split[:, 2] + 1),
                  "faulty_correct": rng.integers(0, n_img + 1, n_faults)}
        assert set(counts) == set(COUNT_FIELDS)
        records[fw] = FaultRecords(0, **counts, noop=rng.integers(0, 2, n_faults).astype(bool),
                                   quality=np.zeros((n_faults, 0)),
                                   outcome=rng.choice([0, 1, 2, 4, 5, 6], (n_faults, n_img)).astype(np.int8)
                                   if per_image else None)
    golden = {fw: GoldenRecord(int(rng.integers(0, n_img + 1)), np.zeros(0), rng.integers(0, 10, n_img))
              for fw in fws}
    return make_dataset(
        model="m",
        faults=FaultList.from_faults("m", faults, ids=ids, sampling=sampling),
        layer_names={fw: [f"{fw}:{f.layer}" for f in faults] for fw in fws},
        records=records,
        golden=golden,
        labels=rng.integers(0, 10, n_img),
        attrs={"dataset": "d", **sampling.to_attrs(), "engines": {"torch": {"threads": 2}}},
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=datasets())
def test_netcdf_round_trip_is_identical(tmp_path: Path, ds: xr.Dataset) -> None:
    path = write_netcdf(ds, tmp_path / "r.nc")
    back = read_netcdf(path)
    xr.testing.assert_identical(ds, back)
    for name in ds.variables:
        assert back[name].dtype == ds[name].dtype, name
    assert Sampling.from_attrs(back.attrs) == Sampling.from_attrs(ds.attrs)


def test_missing_result_file(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="not found"):
        read_netcdf(tmp_path / "nope.nc")


def test_not_netcdf(tmp_path: Path) -> None:
    p = tmp_path / "x.nc"
    p.write_text("hello")
    with pytest.raises(ResultFileError, match="x.nc"):
        read_netcdf(p)


def test_foreign_netcdf_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "y.nc"
    xr.Dataset({"a": ("x", [1, 2])}).to_netcdf(p)
    with pytest.raises(ResultFileError, match="schema"):
        read_netcdf(p)


def test_cf_attributes_present(tmp_path: Path) -> None:
    fl = FaultList.from_faults("m", (Fault("conv1", (0, 0, 0, 0), 1),))
    ds = make_dataset(model="m", faults=fl, layer_names={"torch": ["conv1"]},
                      records={"torch": FaultRecords.from_codes(np.zeros((1, 1), np.int8))},
                      golden={"torch": GoldenRecord(1, np.zeros(0), np.array([0]))}, labels=np.array([0]))
    assert ds.critical.attrs["units"] == "count"  # of images, as UDUNITS spells a count
    assert "SDC-1" in ds.critical.attrs["description"]
    assert ds.tensor_index.values.tolist() == [[0, 0, 0, 0]]


def test_every_coordinate_is_described_and_the_padding_documented(tmp_path: Path) -> None:
    faults = (Fault("conv1", (0, 1, 2, 0), 31), Fault("fc", (3, 4), 0, FaultKind.STUCK_AT_1), Fault("fc", (0, 0), 9))
    fl = FaultList.from_faults("m", faults, ids=(7, 2, 9))  # ids out of order: no CF coordinate variable
    names = {"torch": ["conv1", "fc", "fc"], "keras": ["c:0", "d:0", "d:0"]}
    ds = make_dataset(model="m", faults=fl, layer_names=names,
                      records={fw: FaultRecords.from_codes(np.zeros((3, 3), np.int8)) for fw in ("torch", "keras")},
                      golden={fw: GoldenRecord(3, np.zeros(0), np.zeros(3, np.int16)) for fw in ("torch", "keras")},
                      labels=np.zeros(3, np.int64))
    for name in ("model", "fault", "layer", "bit", "kind", "tensor_index", "axis", "framework", "framework_layer",
                 "image"):
        assert ds[name].attrs["long_name"], name
    assert "-1" in ds.tensor_index.attrs["comment"] and ds.tensor_index.attrs["valid_min"] == 0
    assert ds.outcome.attrs["flag_values"].dtype == ds.outcome.dtype
    path = write_netcdf(ds, tmp_path / "r.nc")
    with netCDF4.Dataset(path) as raw:
        assert {"model_label", "framework_label", "fault_label"} <= set(raw.variables)
        assert not {"model", "framework", "fault"} & set(raw.variables)  # CF: coordinate variables are numeric, sorted
        assert raw["tensor_index"][1].mask.tolist() == [False, False, True, True]  # the padding reads as missing
        assert raw.Conventions == "CF-1.10"
    xr.testing.assert_identical(read_netcdf(path), ds)
