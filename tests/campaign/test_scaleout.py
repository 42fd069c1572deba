from __future__ import annotations

from pathlib import Path

import pytest
import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.scaleout import merge, merge_files, parse_shard, run_dask, run_shard, shard_positions
from readlx.campaign.spec import CampaignSpec
from readlx.cli import main
from readlx.errors import CheckpointError, ReadlxError
from readlx.fault_maps import generate
from readlx.provenance import without_provenance
from readlx.results import read_netcdf, write_netcdf
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
    history = merged.attrs["history"].splitlines()
    assert history[-1].endswith(f"readlx merge {outs[0]} {outs[1]} -o {tmp_path / 'all.nc'}")  # the command typed
    assert all("readlx run " + MODEL in line for line in history[:-1])


def test_merge_keeps_when_and_where_each_shard_ran(tmp_path: Path, faults, single,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shards = []
    for i, epoch in enumerate(("1767225600", "1767229200")):  # one hour apart
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        shards.append(run_shard(SPEC, faults, i, 2, CampaignOptions(
            per_image=True, attrs={"command_line": f"readlx run {MODEL} --shard {i}/2"})))
    shards[1].attrs["host_cpu"] = "another CPU"  # a job array spread over other nodes
    paths = [write_netcdf(s, tmp_path / f"s{i}.nc") for i, s in enumerate(shards)]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767232800")
    merged = merge_files(paths, tmp_path / "all.nc")
    xr.testing.assert_identical(read_netcdf(tmp_path / "all.nc"), merged)
    assert merged.attrs["history"].splitlines() == [
        f"2026-01-01T00:00:00Z: readlx run {MODEL} --shard 0/2",
        f"2026-01-01T01:00:00Z: readlx run {MODEL} --shard 1/2",
        "2026-01-01T02:00:00Z: merged 2 shard files (s0.nc, s1.nc) into all.nc"]
    assert merged.attrs["date_created"] == "2026-01-01T00:00:00Z"
    assert merged.attrs["host_cpu"] == f"{single.attrs['host_cpu']}; another CPU"
    xr.testing.assert_identical(without_provenance(merged), without_provenance(single))


def test_pieces_of_one_run_made_at_other_times_leave_one_history_line(faults, monkeypatch: pytest.MonkeyPatch) -> None:
    pieces = []
    for i, epoch in enumerate(("1767229200", "1767225600")):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        pieces.append(run_shard(SPEC, faults, i, 2))
    merged = merge(pieces)
    assert merged.attrs["history"].splitlines() == [
        "2026-01-01T00:00:00Z: fault campaign run by readlx " + merged.attrs["readlx_version"] + " (Python API)"]


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


def test_a_checkpoint_is_resumed_only_in_its_own_layout(tmp_path: Path) -> None:
    """A Dask run keeps chunks of faults, a run in one process segments: each refuses the other's
    checkpoint, saying how to resume it."""
    from readlx.campaign.checkpoint import CheckpointDir

    single, chunked = {"faults": "d", "n_faults": 4}, {"faults": "d", "n_faults": 4, "n_chunks": 2}
    CheckpointDir(tmp_path / "one").open(single, resume=False)
    with pytest.raises(CheckpointError, match="in one process; resume it without --workers or --dask"):
        CheckpointDir(tmp_path / "one").open(chunked, resume=True)
    CheckpointDir(tmp_path / "dask").open(chunked, resume=False)
    with pytest.raises(CheckpointError, match="on Dask, in chunks of faults; resume it with --workers N"):
        CheckpointDir(tmp_path / "dask").open(single, resume=True)
