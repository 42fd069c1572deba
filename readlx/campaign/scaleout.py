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
from readlx.campaign.fingerprint import campaign_fingerprint, fault_digest
from readlx.campaign.runners.modes import merged_modes, without_modes
from readlx.campaign.spec import CampaignSpec
from readlx.errors import ReadlxError
from readlx.fault_maps.faultlist import FaultList
from readlx.outputs import claim
from readlx.provenance import appended_history, merged_provenance, without_provenance
from readlx.results import read_netcdf, write_netcdf

CAMPAIGN = "shard_campaign"
"""A shard's attr: sha256 of the whole fault list it is a part of (:func:`fault_digest`)."""
SHARD_ATTRS = ("shard_index", "shard_count", CAMPAIGN)
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
    ds.attrs.update({"shard_index": index, "shard_count": count, CAMPAIGN: fault_digest(faults)})
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
    lists = [d.attrs.get(CAMPAIGN) for d in ordered]
    if len(set(lists)) != 1:
        odd = next(i for i, digest in enumerate(lists) if digest != lists[0])
        raise ReadlxError(f"shards of different campaigns: shard {odd} ran a part of fault list "
                          f"{str(lists[odd])[:12]}..., shard 0 of {str(lists[0])[:12]}...")
    stripped = [d.copy() for d in ordered]
    for d in stripped:
        for key in SHARD_ATTRS:
            d.attrs.pop(key, None)
    return concat_faults(stripped)


def concat_faults(parts: Sequence[xr.Dataset]) -> xr.Dataset:
    """The pieces along ``fault``; all but where and when each was made (:mod:`readlx.provenance`) must agree."""
    made = {**merged_provenance([p.attrs for p in parts]), **merged_modes([p.attrs for p in parts])}
    try:
        ds = xr.concat([without_modes(without_provenance(p)) for p in parts], dim="fault", data_vars="minimal",
                       coords="minimal", compat="identical", combine_attrs="identical", join="exact")
    except (ValueError, xr.MergeError) as e:
        raise ReadlxError(f"the pieces are not of one campaign: {e}") from e
    merged = {**ds.attrs, **made}
    ds.attrs = {**{k: merged[k] for k in parts[0].attrs if k in merged}, **merged}  # in the pieces' order
    return ds


def merge_files(paths: Sequence[str | Path], out: str | Path, command: str | None = None,
                force: bool = False) -> xr.Dataset:
    """Merge shard result files into ``out``; its ``history`` ends with the merge (``command`` when given,
    e.g. :func:`readlx.provenance.command_line`). An existing ``out`` is replaced only with ``force``, and
    never when it is one of the shards (:func:`readlx.outputs.claim`).

    Examples
    --------
    >>> import os, tempfile
    >>> from readlx.comparisons.examples import toy_dataset
    >>> with tempfile.TemporaryDirectory() as d:
    ...     shards = [toy_dataset().isel(fault=[i]).assign_attrs(shard_index=i, shard_count=2) for i in (0, 1)]
    ...     paths = [write_netcdf(s, os.path.join(d, f"s{i}.nc")) for i, s in enumerate(shards)]
    ...     merged = merge_files(paths, os.path.join(d, "all.nc"))
    >>> merged.sizes["fault"], merged.attrs["history"].splitlines()[-1].split(": ", 1)[1]
    (2, 'merged 2 shard files (s0.nc, s1.nc) into all.nc')
    """
    claim(out, force=force, inputs=paths)
    ds = merge([read_netcdf(p) for p in paths])
    names = ", ".join(Path(p).name for p in paths)
    what = command or f"merged {len(paths)} shard files ({names}) into {Path(out).name}"
    ds.attrs["history"] = appended_history(ds.attrs.get("history"), what)
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

    if opts.progress is not None:
        opts.progress("dask", sum(p.sizes["fault"] for p in pieces.values()), len(faults))

    index_of = {f.key: i for i, f in futures.items()}
    for future in as_completed(list(futures.values())):  # type: ignore[no-untyped-call]  # unannotated in distributed
        i = index_of[future.key]
        pieces[i] = future.result()
        if checkpoint is not None:
            write_netcdf(pieces[i], checkpoint / f"chunk-{i:06d}-of-{n_chunks:06d}.nc")
        if opts.progress is not None:  # counted in faults (each on every runtime), not in tasks
            opts.progress("dask", sum(p.sizes["fault"] for p in pieces.values()), len(faults))
    return concat_faults([pieces[i] for i in range(n_chunks)])
