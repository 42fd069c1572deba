"""Vulnerability rankings of a real campaign mixing weight and activation faults, and the site-aware
breakdowns, divergence and published-count comparisons around them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import readlx
from readlx.cli import main
from readlx.comparisons.breakdown import by_bit, by_layer
from readlx.comparisons.divergence import format_most_divergent, most_divergent
from readlx.comparisons.intervals import wilson_interval
from readlx.comparisons.published import agreement
from readlx.comparisons.ranking import format_ranking, rank_layers
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault, Site
from readlx.fault_maps.faultlist import FaultList
from readlx.results import read_netcdf, write_netcdf

MODEL = "democnn-synthetic10"
IMAGES = 16
A = Site.ACTIVATION
FAULTS = (
    Fault("conv1", (0, 0, 0, 0), 30), Fault("conv1", (3, 1, 2, 1), 2), Fault("conv1", (5, 2, 1, 1), (29, 30)),
    Fault("conv2", (1, 0, 1, 1), 30), Fault("linear", (2, 5), 30), Fault("linear", (7, 3), 3),
    Fault("conv1", (0, 8, 8), 22, site=A), Fault("conv1", (4, 3, 11), 2, site=A),
    Fault("conv1", (7, 15, 2), 31, site=A),
    Fault("linear", (2,), 30, site=A), Fault("linear", (9,), 31, site=A), Fault("linear", (5,), (29, 30), site=A),
)
NETWORK = ("conv1", "dwconv", "conv2", "conv3", "linear")
MULTI = 2
"""Position of the multi-bit weight fault."""


@pytest.fixture(scope="module")
def campaign() -> xr.Dataset:
    """12 faults (6 in weights, 6 in layer outputs) on PyTorch over 16 images."""
    faults = FaultList.from_faults(MODEL, FAULTS)
    return readlx.run(MODEL, None, faults, images=IMAGES, per_image=True, progress=False)


@pytest.fixture(scope="module")
def result_file(campaign: xr.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_netcdf(campaign, tmp_path_factory.mktemp("ranking") / "mixed.nc")


def _expected(ds: xr.Dataset, site: str) -> list[tuple[str, int, float]]:
    """(layer, faults, SDC-1 %) of one site's layers, counted fault by fault, largest share first."""
    counts: dict[str, list[int]] = {}
    for f in range(ds.sizes["fault"]):
        if str(ds.site.values[f]) == site:
            counts.setdefault(str(ds.layer.values[f]), []).append(int(ds.critical.values[0, f, 0]))
    rows = [(layer, len(c), 100.0 * sum(c) / (len(c) * IMAGES)) for layer, c in counts.items()]
    return sorted(rows, key=lambda r: (-r[2], NETWORK.index(r[0])))


def test_each_site_is_ranked_by_its_sdc1_share(campaign: xr.Dataset) -> None:
    rk = rank_layers(campaign)
    for site in ("weight", "activation"):
        sel = rk.isel(group=np.flatnonzero(rk.site.values == site))
        expected = _expected(campaign, site)
        assert sel.layer.values.tolist() == [layer for layer, _, _ in expected]
        assert sel.rank_in_site.values.tolist() == list(range(1, len(expected) + 1))
        np.testing.assert_allclose(sel.critical.sel(framework="torch").values, [s for _, _, s in expected])
        shares = sel.mean_critical.values
        assert (np.diff(shares) <= 0).all()
    weights = rk.layer.values[rk.site.values == "weight"].tolist()
    assert weights != sorted(weights, key=NETWORK.index)  # the campaign's order is not the network's
    assert rk.site.values.tolist() == ["weight"] * 3 + ["activation"] * 2


def test_counts_add_up_and_sites_stay_apart(campaign: xr.Dataset) -> None:
    rk = rank_layers(campaign)
    assert int(rk.n_faults.sum()) == len(FAULTS)
    for site in ("weight", "activation"):
        assert int(rk.n_faults.values[rk.site.values == site].sum()) == 6
    conv1 = rk.isel(group=np.flatnonzero(rk.layer.values == "conv1"))
    assert conv1.site.values.tolist() == ["weight", "activation"] and conv1.n_faults.values.tolist() == [3, 3]
    for g in range(rk.sizes["group"]):
        chosen = (campaign.site.values == rk.site.values[g]) & (campaign.layer.values == rk.layer.values[g])
        for var in ("critical", "masked"):
            total = int(campaign[var].values[0, chosen, 0].sum())
            assert rk[var].values[0, g] * rk.n_faults.values[g] * IMAGES / 100 == pytest.approx(total)


def test_the_interval_is_the_wilson_interval_over_the_faults(campaign: xr.Dataset) -> None:
    rk = rank_layers(campaign)
    share = rk.critical.values[0]
    low, high = wilson_interval(share / 100, rk.n_faults.values)
    np.testing.assert_allclose(rk.critical_low.values[0], 100 * low)
    np.testing.assert_allclose(rk.critical_high.values[0], 100 * high)
    assert (rk.critical_low <= rk.critical).all() and (rk.critical <= rk.critical_high).all()
    assert (rk.critical_high.values - rk.critical_low.values > 0).all()


def test_bits_are_ranked_per_site_with_a_multi_bit_fault_under_its_top_bit(campaign: xr.Dataset) -> None:
    assert int(campaign.bit_mask.values[MULTI]) == (1 << 29) | (1 << 30)
    rk = rank_layers(campaign, by="bit")
    weight = rk.isel(group=np.flatnonzero(rk.site.values == "weight"))
    assert sorted(weight.bit.values.tolist()) == [2, 3, 30]
    assert int(weight.n_faults.values[weight.bit.values == 30][0]) == 4  # three single-bit and the 29+30 fault
    assert (np.diff(weight.mean_critical.values) <= 0).all()
    activation = rk.isel(group=np.flatnonzero(rk.site.values == "activation"))
    assert int(activation.n_faults.sum()) == 6 and 22 in activation.bit.values.tolist()


def test_a_result_without_sites_holds_weight_faults(campaign: xr.Dataset) -> None:
    old = campaign.drop_vars(["site", "bit_mask"])
    rk = rank_layers(old)
    assert set(rk.site.values.tolist()) == {"weight"}
    assert int(rk.n_faults.values[rk.layer.values == "conv1"][0]) == 6
    assert "activation" not in format_ranking(rk)


def test_the_accessor_delegates(campaign: xr.Dataset) -> None:
    xr.testing.assert_identical(campaign.readlx.rank("bit", "masked"), rank_layers(campaign, "bit", "masked"))


def test_bad_rankings_list_the_choices(campaign: xr.Dataset) -> None:
    with pytest.raises(ReadlxError, match="cannot rank by 'neuron'; valid: layer, bit"):
        rank_layers(campaign, "neuron")
    with pytest.raises(ReadlxError, match="'sdc'; valid: masked, non_critical, critical, nan_or_inf"):
        rank_layers(campaign, outcome="sdc")


def test_layer_breakdown_keeps_sites_apart(campaign: xr.Dataset) -> None:
    b = by_layer(campaign)
    assert b.layer.values.tolist() == ["conv1", "conv2", "linear", "conv1 (activation)", "linear (activation)"]
    assert b.n_faults.values.tolist() == [3, 1, 2, 3, 3]
    assert by_layer(campaign, site="activation").layer.values.tolist() == ["conv1 (activation)", "linear (activation)"]
    with pytest.raises(ReadlxError, match="mixes weight and activation faults.*valid: weight, activation"):
        by_bit(campaign)
    assert int(by_bit(campaign, site="weight").n_faults.sum()) == 6
    with pytest.raises(ReadlxError, match="no 'neuron' faults; sites present: weight, activation"):
        by_layer(campaign, site="neuron")


def test_divergent_faults_name_their_site_and_bits(campaign: xr.Dataset) -> None:
    other = campaign.assign_coords(framework=["other"]).copy(deep=True)
    for pos in (MULTI, 11):  # the multi-bit weight fault and the multi-bit activation fault
        for var, delta in (("critical", -1), ("masked", 1)):
            other[var].values[0, pos, 0] += delta
    other["outcome"].values[0, :, 0] = campaign["outcome"].values[0, :, 0]
    for pos in (MULTI, 11):
        row = other["outcome"].values[0, pos, 0]
        row[np.flatnonzero(row & 3 == 2)[0]] = 0
    two = xr.concat([campaign, other], dim="framework", data_vars="minimal", coords="minimal", compat="override")
    rows = most_divergent(two, top=5)
    assert {(r.fault, r.site, r.bits) for r in rows} == {(MULTI, "weight", (29, 30)), (11, "activation", (29, 30))}
    text = format_most_divergent(rows)
    assert "linear (activation)" in text and "29+30" in text
    lines = {line.split()[0]: line for line in text.splitlines()[2:]}
    assert " conv1 " in lines[str(MULTI)] and "(activation)" not in lines[str(MULTI)]


def _published(faults: FaultList, n_images: int) -> FaultList:
    counts = np.zeros((len(faults), 4), np.int64)
    counts[:, 0] = counts[:, 1] = n_images
    return faults.with_published(counts)


def test_published_lists_do_not_compare_with_activation_faults(campaign: xr.Dataset) -> None:
    with pytest.raises(ReadlxError, match=r"6 of the result's 12 faults \(ids \[6, 7, 8, 9, 10\] ...\) are activation"):
        agreement(campaign, _published(FaultList.from_faults(MODEL, FAULTS), IMAGES))


def test_a_multi_bit_fault_does_not_match_its_top_bit(campaign: xr.Dataset) -> None:
    weights = campaign.isel(fault=np.flatnonzero(campaign.site.values == "weight"))
    single = tuple(Fault(f.layer, f.index, f.top_bit) for f in FAULTS[:6])
    with pytest.raises(ReadlxError, match=r"fault 2 differs between result \(conv1 \(5, 2, 1, 1\) bits 29\+30\) "
                                          r"and published list \(conv1 \(5, 2, 1, 1\) bit 30\)"):
        agreement(weights, _published(FaultList.from_faults(MODEL, single), IMAGES))
    assert agreement(weights, _published(FaultList.from_faults(MODEL, FAULTS[:6]), IMAGES))[0].n_faults == 6


def test_report_prints_one_ranking_per_site(result_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(result_file), "--rank", "layer"]) == 0
    out = capsys.readouterr().out
    weight = out.index("weight faults: layers ranked by SDC-1 share")
    activation = out.index("activation faults: layers ranked by SDC-1 share")
    assert weight < activation
    assert "torch SDC-1 % [95 % CI]" in out and "torch masked %" in out
    weight_rows = [line.split()[:3] for line in out[weight:activation].strip().splitlines()[3:]]
    expected = _expected(read_netcdf(result_file), "weight")
    assert [(r[1], r[2]) for r in weight_rows] == [(layer, str(n)) for layer, n, _ in expected]
    assert main(["report", str(result_file), "--rank", "bit"]) == 0
    out = capsys.readouterr().out
    assert "weight faults: bits ranked" in out and "activation faults: bits ranked" in out


def test_report_rejects_an_unknown_ranking(result_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(result_file), "--rank", "neuron"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --rank: invalid choice: 'neuron'" in err and "'layer', 'bit'" in err


def test_report_refuses_published_counts_for_activation_faults(result_file: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(result_file), "--published", str(tmp_path / "absent.csv")]) == 2
    err = capsys.readouterr().err
    assert "argument 'published': 6 of the result's 12 faults" in err and "weight faults only" in err
