from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.scaleout import merge, parse_shard, run_dask, run_shard, shard_positions
from readlx.campaign.spec import CampaignSpec
from readlx.cli import main
from readlx.errors import CheckpointError, ReadlxError
from readlx.fault_maps import generate
from readlx.results import read_netcdf
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"
SPEC = CampaignSpec(MODEL, images=24, batch_size=8, threads=1)


@pytest.fixture(scope="module")
def faults():
    return generate(ZOO[MODEL].layer_table(), margin=0.25, seed=11, mode="network-wise")


@pytest.fixture(scope="module")
def single(faults) -> xr.Dataset:
    return run_campaign(SPEC.engines(), faults, SPEC.dataset(), model=MODEL,
                        options=CampaignOptions(per_image=True))


@pytest.mark.parametrize("n", [1, 5, 17])
@pytest.mark.parametrize("count", [1, 3, 4])
def test_shards_partition_the_list(n: int, count: int) -> None:
    positions = [p for i in range(count) for p in shard_positions(n, i, count)]
    assert positions == list(range(n))


def test_parse_shard_errors() -> None:
    for bad in ("3/3", "a/2", "1", "-1/2"):
        with pytest.raises(ReadlxError, match="i/N"):
            parse_shard(bad)


def test_merged_shards_equal_single_run(faults, single) -> None:
    shards = [run_shard(SPEC, faults, i, 3, CampaignOptions(per_image=True)) for i in (2, 0, 1)]
    xr.testing.assert_identical(merge(shards), single)
    with pytest.raises(ReadlxError, match="whole campaign"):
        merge(shards[:2])


def test_merge_refuses_pieces_of_other_campaigns(faults) -> None:
    a = run_shard(SPEC, faults, 0, 2)
    other = CampaignSpec(MODEL, images=16, batch_size=8, threads=1)
    b = run_shard(other, faults, 1, 2)
    with pytest.raises(ReadlxError, match="not of one campaign"):
        merge([a, b])


def test_cli_shards_and_merge(tmp_path: Path, faults, single) -> None:
    from readlx.fault_maps import save_fault_list

    fl = tmp_path / "fl.csv"
    save_fault_list(faults, fl)
    outs = []
    for i in range(2):
        out = tmp_path / f"s{i}.nc"
        assert main(["run", MODEL, "--faults", str(fl), "--images", "24", "--batch-size", "8", "--threads", "1",
                     "--per-image", "--shard", f"{i}/2", "-o", str(out)]) == 0
        outs.append(str(out))
    assert main(["merge", *outs, "-o", str(tmp_path / "all.nc")]) == 0
    merged = read_netcdf(tmp_path / "all.nc")
    xr.testing.assert_identical(merged.drop_attrs(), single.drop_attrs())
    assert merged.attrs["fault_list_source"] == str(fl)


@pytest.mark.slow
def test_dask_local_cluster_equals_single_run(tmp_path: Path, faults, single) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        ckpt = tmp_path / "dask"
        ds = run_dask(SPEC, faults, client, chunk=7, options=CampaignOptions(per_image=True), checkpoint=ckpt)
        xr.testing.assert_identical(ds, single)
        # A rerun with --resume reuses every finished chunk; without it, the checkpoint is protected.
        with pytest.raises(CheckpointError, match="--resume"):
            run_dask(SPEC, faults, client, chunk=7, options=CampaignOptions(per_image=True), checkpoint=ckpt)
        again = run_dask(SPEC, faults, client, chunk=7, checkpoint=ckpt,
                         options=CampaignOptions(per_image=True, resume=True))
        xr.testing.assert_identical(again, single)
