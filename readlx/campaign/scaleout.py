"""Scale-out: shards of a fault list (e.g. Slurm job arrays), their merge, and Dask execution.

Work is split by contiguous chunks of the fault list; each piece is an ordinary campaign over a
subset of faults, so the merged Dataset is identical to a single-process run (invariant 7 of docs/architecture.md).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import xarray as xr

from readlx.campaign import CampaignOptions, run_campaign
from readlx.campaign.checkpoint import CheckpointDir
from readlx.campaign.fingerprint import campaign_fingerprint
from readlx.campaign.spec import CampaignSpec
from readlx.errors import ReadlxError
from readlx.fault_maps.faultlist import FaultList
from readlx.results import read_netcdf, write_netcdf

SHARD_ATTRS = ("shard_index", "shard_count")
_SHARD = re.compile(r"^(\d+)/(\d+)$")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` -> ``(i, N)`` with 0 <= i < N.

    >>> parse_shard("2/8")
    (2, 8)
    """
    m = _SHARD.match(text.strip())
    if not m or not 0 <= int(m[1]) < int(m[2]):
        raise ReadlxError(f"shard must be 'i/N' with 0 <= i < N, got {text!r}")
    return int(m[1]), int(m[2])


def shard_positions(n_faults: int, index: int, count: int) -> range:
    """Positions of shard ``index`` of ``count``: contiguous, sizes differing by at most one.

    >>> [list(shard_positions(5, i, 2)) for i in range(2)]
    [[0, 1, 2], [3, 4]]
    """
    return range(_bound(n_faults, index, count), _bound(n_faults, index + 1, count))


def _bound(n: int, i: int, count: int) -> int:
    return -(-i * n // count)


def run_shard(spec: CampaignSpec, faults: FaultList, index: int, count: int,
              options: CampaignOptions | None = None) -> xr.Dataset:
    """Run shard ``index`` of ``count``; its Dataset records the shard for :func:`merge`."""
    part = faults.subset(list(shard_positions(len(faults), index, count)))
    ds = run_campaign(spec.engines(), part, spec.dataset(), model=spec.model_name(), options=options)
    ds.attrs.update({"shard_index": index, "shard_count": count})
    return ds


def merge(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Concatenate the shards of one campaign along ``fault``, checking that all are there."""
    if not datasets:
        raise ReadlxError("nothing to merge")
    ordered = sorted(datasets, key=lambda d: int(d.attrs.get("shard_index", -1)))
    counts = {int(d.attrs.get("shard_count", -1)) for d in ordered}
    indices = [int(d.attrs.get("shard_index", -1)) for d in ordered]
    if len(counts) != 1 or indices != list(range(len(ordered))) or counts != {len(ordered)}:
        raise ReadlxError(
            f"shards do not make a whole campaign: indices {indices}, shard counts {sorted(counts)}"
        )
    stripped = [d.copy() for d in ordered]
    for d in stripped:
        for key in SHARD_ATTRS:
            d.attrs.pop(key)
    return _concat(stripped)


def _concat(parts: Sequence[xr.Dataset]) -> xr.Dataset:
    try:
        return xr.concat(parts, dim="fault", data_vars="minimal", coords="minimal", compat="identical",
                         combine_attrs="identical", join="exact")
    except (ValueError, xr.MergeError) as e:
        raise ReadlxError(f"the pieces are not of one campaign: {e}") from e


def merge_files(paths: Sequence[str | Path], out: str | Path) -> xr.Dataset:
    """Merge shard result files into ``out``."""
    ds = merge([read_netcdf(p) for p in paths])
    write_netcdf(ds, out)
    return ds


def _dask_task(spec: CampaignSpec, faults: FaultList, options: dict[str, Any]) -> xr.Dataset:
    return run_campaign(spec.engines(), faults, spec.dataset(), model=spec.model_name(),
                        options=CampaignOptions(**options))


def run_dask(spec: CampaignSpec, faults: FaultList, client: Any, *, chunk: int = 64,
             options: CampaignOptions | None = None, checkpoint: Path | None = None) -> xr.Dataset:
    """Run the campaign on a Dask ``distributed`` cluster, one task per chunk of faults.

    Each finished chunk is written to ``checkpoint`` (a directory) when given, and a rerun submits
    only the missing chunks, so a lost client or cluster loses at most the chunks in flight.
    """
    opts = options or CampaignOptions()
    plain = {"per_image": opts.per_image, "skip_noop": opts.skip_noop, "attrs": dict(opts.attrs), "mode": opts.mode,
             "fast": opts.fast}
    n_chunks = max(1, -(-len(faults) // chunk))
    pieces: dict[int, xr.Dataset] = {}
    if checkpoint is not None:
        meta = campaign_fingerprint(faults, spec=asdict(spec), n_chunks=n_chunks, per_image=opts.per_image,
                                    skip_noop=opts.skip_noop)
        CheckpointDir(checkpoint).open(meta, opts.resume)
        for i in range(n_chunks):
            path = checkpoint / f"chunk-{i:06d}-of-{n_chunks:06d}.nc"
            if path.exists():
                pieces[i] = read_netcdf(path)
    futures = {
        i: client.submit(_dask_task, spec, faults.subset(list(shard_positions(len(faults), i, n_chunks))),
                         plain, pure=False)
        for i in range(n_chunks) if i not in pieces
    }
    from distributed import as_completed

    index_of = {f.key: i for i, f in futures.items()}
    for future in as_completed(list(futures.values())):  # type: ignore[no-untyped-call]  # unannotated in distributed
        i = index_of[future.key]
        pieces[i] = future.result()
        if checkpoint is not None:
            write_netcdf(pieces[i], checkpoint / f"chunk-{i:06d}-of-{n_chunks:06d}.nc")
        if opts.progress is not None:
            opts.progress("dask", len(pieces), n_chunks)
    return _concat([pieces[i] for i in range(n_chunks)])
