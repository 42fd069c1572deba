"""``readlx run MODEL`` (a fault campaign, checkpointed, sharded or on Dask) and ``readlx merge``."""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.cli.progress import progress_bar
from readlx.cli.report import print_report

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from readlx.campaign import CampaignOptions
    from readlx.campaign.inputs import Subject
    from readlx.campaign.runners import FastOptions
    from readlx.campaign.spec import CampaignSpec
    from readlx.fault_maps.faultlist import FaultList


def _fault_list(args: argparse.Namespace, model: Subject) -> FaultList:
    from readlx.campaign.inputs import fault_list

    return fault_list(args.faults, model, sample=args.sample, seed=args.seed)


def _spec(args: argparse.Namespace) -> CampaignSpec:
    import torch

    from readlx.campaign.spec import CampaignSpec

    return CampaignSpec(
        model=args.model,
        frameworks=tuple(f.strip() for f in args.frameworks.split(",") if f.strip()),
        weights=args.weights,
        data=args.data,
        images=args.images,
        batch_size=args.batch_size,
        bundle=args.bundle,
        threads=args.threads or torch.get_num_threads(),
        device=args.device,
    )


def _execute(args: argparse.Namespace, spec: CampaignSpec, faults: FaultList, opts: CampaignOptions) -> xr.Dataset:
    from readlx.campaign import run_campaign
    from readlx.campaign.scaleout import parse_shard, run_dask, run_shard

    if args.dask or args.workers:
        from distributed import Client, LocalCluster

        if args.dask:
            with Client(args.dask) as client:  # type: ignore[no-untyped-call]  # unannotated in distributed
                return run_dask(spec, faults, client, chunk=args.chunk, options=opts, checkpoint=opts.checkpoint)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,  # type: ignore[no-untyped-call]  # unannotated in distributed
                          dashboard_address=None) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]  # unannotated in distributed
            return run_dask(spec, faults, client, chunk=args.chunk, options=opts, checkpoint=opts.checkpoint)
    if args.shard:
        index, count = parse_shard(args.shard)
        return run_shard(spec, faults, index, count, opts)
    return run_campaign(spec.engines(), faults, spec.dataset(), model=spec.model_name(), options=opts)


def _fast_options(args: argparse.Namespace) -> FastOptions:
    from readlx.campaign.runners import FastOptions

    return FastOptions(block_faults=args.block_faults, cache_bytes=args.cache_mib << 20)


def _converted(spec: CampaignSpec) -> CampaignSpec:
    """A model asked for on a runtime that needs what it is not (a zoo model on Keras, an ONNX file on
    PyTorch, ...), without ``--bundle``: its bundle from the conversion cache, converted here once,
    before any shard or Dask worker starts."""
    from dataclasses import replace

    from readlx.campaign.inputs import converted_bundle

    if spec.bundle is not None:
        return spec
    model = spec.subject()
    shape = model.input_shape or (model.benchmark.input_shape if model.benchmark else None)
    bundle = converted_bundle(model, spec.frameworks, shape or tuple(spec.dataset().images.shape[1:]))
    if bundle is None:
        return spec
    print(f"{model.name}: converted model from {bundle.path}", file=sys.stderr)
    return replace(spec, bundle=str(bundle.path))


def cmd_run(args: argparse.Namespace) -> int:
    from readlx.campaign import CampaignOptions
    from readlx.results import write_netcdf

    spec = _converted(_spec(args))
    model = spec.subject()
    faults = _fault_list(args, model)
    out = Path(args.out or f"runs/{model.name}.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".partial")
    update, close = progress_bar()
    opts = CampaignOptions(per_image=args.per_image, skip_noop=not args.force_noop, checkpoint=ckpt,
                           resume=args.resume, progress=update,
                           attrs=model.benchmark.characterization() if model.benchmark else {},
                           flush_seconds=args.flush_seconds, mode=args.mode, fast=_fast_options(args))
    print(f"{model.name}: {len(faults)} faults x {args.images or 'all'} images on {', '.join(spec.frameworks)}"
          f" (checkpoint {ckpt})", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        ds = _execute(args, spec, faults, opts)
    finally:
        close()
    write_netcdf(ds, out)
    shutil.rmtree(ckpt, ignore_errors=True)
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    print_report(ds, None)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from readlx.campaign.scaleout import merge_files

    ds = merge_files(args.shards, args.out)
    print(f"merged {len(args.shards)} shards ({ds.sizes['fault']} faults) -> {args.out}")
    return 0


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``run``."""
    r = sub.add_parser("run", help="run a fault campaign")
    r.add_argument("model", help="zoo model (readlx zoo list) or bundle directory (readlx convert)")
    r.add_argument("--faults", help="fault list (default: the model's published list, else a generated one)")
    r.add_argument("--sample", type=int, help="run a stratified subset of this many faults")
    r.add_argument("--seed", type=int, default=0, help="seed of the subset / generated list")
    r.add_argument("--images", type=int, help="use the first N test images")
    r.add_argument("--data", help="dataset directory or name, or an .npz file with normalized float32 images and "
                                   "labels (default: the model's test set under the reference data)")
    r.add_argument("--weights", help="checkpoint (default: the published one)")
    r.add_argument("--frameworks", default="torch",
                   help="comma-separated runtime names: torch, keras, onnxruntime, onnxruntime-keras, "
                        "torch[-mkldnn-off][-threadsN], reference-ALGORITHM-ARITHMETIC[+PATTERN=VALUE...]")
    r.add_argument("--bundle", help="converted model bundle for keras/onnxruntime (default: a zoo model is "
                                     "converted once and kept under $READLX_CACHE, ~/.cache/readlx)")
    r.add_argument("--batch-size", type=int, default=256)
    r.add_argument("--per-image", action="store_true", help="keep each inference's outcome")
    r.add_argument("--force-noop", action="store_true", help="run no-op stuck-at faults through inference")
    r.add_argument("-o", "--out", help="result NetCDF (default runs/MODEL.nc)")
    r.add_argument("--checkpoint", help="checkpoint directory (default OUT.partial)")
    r.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    r.add_argument("--flush-seconds", type=float, default=20.0, help="checkpoint at least this often")
    r.add_argument("--mode", default="fast", choices=("reference", "fast"),
                   help="fast (default): exact prefix reuse and early masking where the engine supports "
                        "it, the same outcomes; reference: one full inference per fault")
    r.add_argument("--block-faults", type=int, default=128,
                   help="fast mode: faults per pass over the images (results are checkpointed per block)")
    r.add_argument("--cache-mib", type=int, default=512, help="fast mode: bound on cached golden activations")
    r.add_argument("--threads", type=int, help="PyTorch threads (default: this process's)")
    r.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where PyTorch, ONNX Runtime and Keras run (default cpu); cuda fails where unusable")
    r.add_argument("--shard", help="run shard i/N of the fault list (merge the results with `readlx merge`)")
    r.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler")
    r.add_argument("--workers", type=int, help="run on a local Dask cluster of this many worker processes")
    r.add_argument("--chunk", type=int, default=64, help="faults per Dask task")
    r.set_defaults(func=cmd_run)


def add_merge_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``merge``."""
    m = sub.add_parser("merge", help="merge shard results into one Dataset")
    m.add_argument("shards", nargs="+")
    m.add_argument("-o", "--out", required=True)
    m.set_defaults(func=cmd_merge)
