"""``readlx run MODEL`` (a fault campaign, checkpointed, sharded or on Dask) and ``readlx merge``."""
from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.cli import invocation, types
from readlx.cli.progress import progress_bar
from readlx.cli.report import print_report
from readlx.errors import ArgumentError, OutputError, ReadlxError

LOCK = ".lock"
"""The file in a checkpoint folder that the run writing it holds locked."""

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

    if args.until:
        from readlx.planning.iterative import run_until
        from readlx.planning.sequential import Target

        if args.dask or args.workers or args.shard:
            raise ArgumentError("--until runs its rounds here; it does not combine with --shard, --workers or --dask",
                                argument="until")
        return run_until(spec.engines(), faults, spec.dataset(), model=spec.model_name(),
                         target=Target.parse(args.until), seed=args.seed, options=opts)

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

    return FastOptions(block_faults=args.block_faults, cache_bytes=args.cache_mib << 20,
                       refill=args.refill, stack=args.stack)


def _converted(spec: CampaignSpec) -> CampaignSpec:
    """A model asked for on a runtime that needs what it is not (a zoo model on Keras, an ONNX file on
    PyTorch, ...), without ``--bundle``: its bundle from the conversion cache, converted here once,
    before any shard or Dask worker starts."""
    from dataclasses import replace

    from readlx.campaign.inputs import converted_bundle
    from readlx.engines import RUNTIMES

    if spec.bundle is not None:
        return spec
    model = spec.subject()
    if all(model.artifact.has(key) for fw in spec.frameworks for key in RUNTIMES[fw].needs):
        return spec
    print(f"{model.name}: the converted model for {', '.join(spec.frameworks)} (converted once, then kept by "
          "content under $READLX_CACHE) ...", file=sys.stderr, flush=True)
    shape = model.input_shape or (model.benchmark.input_shape if model.benchmark else None)
    bundle = converted_bundle(model, spec.frameworks, shape or tuple(spec.dataset().images.shape[1:]))
    if bundle is None:
        return spec
    print(f"{model.name}: converted model from {bundle.path}", file=sys.stderr)
    return replace(spec, bundle=str(bundle.path))


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the run as Ctrl-C does (the checkpoint is flushed); the handler is restored in ``finally``."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cmd_run(args: argparse.Namespace) -> int:
    if args.resume:
        args = invocation.resumed(args, args.run_defaults)
    if args.model is None:
        raise ArgumentError("name a model, or continue a run with --resume -o OUT", argument="model")
    print(f"{args.model}: loading the model, the images and the fault list ...", file=sys.stderr, flush=True)
    spec = _converted(_spec(args))
    model = spec.subject()
    faults = _fault_list(args, model)
    out = Path(args.out or f"runs/{model.name}.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = invocation.checkpoint_of(out, args.checkpoint)
    invocation.claim_outputs(args, out, ckpt)
    invocation.save(ckpt, argparse.Namespace(**{**vars(args), "out": str(out)}))
    return _campaign(args, spec, model, faults, out, ckpt)


def _campaign(args: argparse.Namespace, spec: CampaignSpec, model: Subject, faults: FaultList, out: Path,
              ckpt: Path) -> int:
    """Run the campaign of ``readlx run``, holding the checkpoint's lock, and write its result."""
    from readlx.campaign import CampaignOptions
    from readlx.outputs import locked, remove_dir, sweep
    from readlx.provenance import command_line
    from readlx.results import write_netcdf

    update, close = progress_bar()
    opts = CampaignOptions(per_image=args.per_image, skip_noop=not args.force_noop, checkpoint=ckpt,
                           resume=args.resume, progress=update, progress_weights=update.weights,
                           attrs={**(model.benchmark.characterization() if model.benchmark else {}),
                                  "command_line": command_line(getattr(args, "command_line", None))},
                           flush_seconds=args.flush_seconds, mode=args.mode, fast=_fast_options(args))
    print(f"{model.name}: {len(faults)} faults x {args.images or 'all'} images on {', '.join(spec.frameworks)}"
          f" (checkpoint {ckpt})", file=sys.stderr)
    t0 = time.perf_counter()
    with locked(ckpt / LOCK, f"the checkpoint of {str(out)!r}"):
        try:
            with _terminate_as_interrupt():
                ds = _execute(args, spec, faults, opts)
        except KeyboardInterrupt:
            close()
            print(f"readlx: interrupted; the faults done are kept in {ckpt}; continue with:\n  "
                  f"{invocation.resume_command(out, args.checkpoint)}", file=sys.stderr)
            return 130
        except OutputError:
            close()
            _say_kept(ckpt, out, args, "the faults done")
            raise
        except ReadlxError:
            if not (ckpt / "meta.json").exists():  # refused before the campaign began: nothing to keep
                remove_dir(ckpt)
            raise
        finally:
            close()
        try:
            write_netcdf(ds, out)
        except OutputError:
            _say_kept(ckpt, out, args, "all faults")
            raise
        remove_dir(ckpt)  # a kill before this is resumed: --resume finds every fault done and writes OUT again
        for done in (out, ckpt):  # what kills of earlier attempts left beside them
            sweep(done)
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    print_report(ds, None)
    if args.until:
        from readlx.planning.iterative import format_verdict

        print(f"\n{format_verdict(ds)}")
    return 0


def _say_kept(ckpt: Path, out: Path, args: argparse.Namespace, done: str) -> None:
    """What a failed write (a full disk, no permission) leaves, and how to go on once it is fixed."""
    print(f"readlx: the outcomes of {done} are kept in {ckpt}; once the disk has room, continue with:\n  "
          f"{invocation.resume_command(out, args.checkpoint)}", file=sys.stderr)


def cmd_merge(args: argparse.Namespace) -> int:
    from readlx.campaign.scaleout import merge_files
    from readlx.provenance import command_line

    ds = merge_files(args.shards, args.out, command_line(getattr(args, "command_line", None)), force=args.force)
    print(f"merged {len(args.shards)} shards ({ds.sizes['fault']} faults) -> {args.out}")
    return 0


def parse_shard(text: str) -> str:
    """``--shard I/N``, shard I of N counted from 0 (``0/8`` .. ``7/8``), checked before any model is loaded.

    >>> parse_shard(" 7/8")
    '7/8'
    >>> parse_shard("8/8")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: shards count from 0: use 0/8 .. 7/8, got '8/8'
    """
    index, slash, count = text.strip().partition("/")
    if not (slash and index.isascii() and index.isdigit() and count.isascii() and count.isdigit()):
        raise argparse.ArgumentTypeError(f"expected I/N, shard I of N counted from 0 (e.g. 0/8 .. 7/8), got {text!r}")
    i, n = int(index), int(count)
    if n < 1:
        raise argparse.ArgumentTypeError(f"the number of shards must be at least 1, got {text!r}")
    if i >= n:
        raise argparse.ArgumentTypeError(f"shards count from 0: use 0/{n} .. {n - 1}/{n}, got {text!r}")
    return f"{i}/{n}"


def _run_inputs(r: argparse._ActionsContainer) -> None:
    r.add_argument("model", nargs="?",
                   help="zoo model (see `readlx zoo list`), bundle directory (`readlx convert`), .onnx file or Keras "
                        "model; may be left out with --resume -o OUT (the checkpoint knows it)")
    r.add_argument("--faults", metavar="FILE",
                   help="fault list (default: the model's published list, else a generated network-wise one)")
    r.add_argument("--sample", type=types.count, metavar="N", help="run a stratified subset of N faults of the list")
    r.add_argument("--seed", type=types.seed, metavar="N", default=0, help="seed of the subset / generated list")
    r.add_argument("--images", type=types.count, metavar="N", help="use the first N test images (default: all)")
    r.add_argument("--data", help="dataset directory or name, or an .npz file with normalized float32 images and "
                                   "labels (default: the model's test set under the reference data)")
    r.add_argument("--weights", metavar="FILE",
                   help="weights file of a zoo model (default: its published weights, the shipped ones for the "
                        "demo model, else seeded random weights)")


def _run_until(r: argparse._ActionsContainer) -> None:
    r.add_argument("--until", metavar="margin=M[,...]", type=_until,
                   help="an iterative campaign: random rounds of the fault list (in an order drawn with --seed) "
                        "until every share's interval is within M on every runtime (margin=M[,confidence=C]"
                        "[,outcomes=masked+non_critical+critical][,looks=K]: K doubling rounds, each look's "
                        "interval at level 1-(1-C)/K, so the one reported covers with at least C)")


def _until(text: str) -> str:
    """``--until``, checked before any model is loaded."""
    from readlx.planning.sequential import Target

    try:
        Target.parse(text)
    except ArgumentError as e:
        raise argparse.ArgumentTypeError(e.message) from e
    return text


MODES = ("reference", "fast", "fast-always")
""":data:`readlx.campaign.loop.MODES`, spelled out: importing the campaign loads PyTorch, which building
the parser must not (a test holds the two equal)."""


def _run_runtimes(r: argparse._ActionsContainer) -> None:
    r.add_argument("--frameworks", default="torch", metavar="NAMES", help="comma-separated runtimes: %(runtimes)s")
    r.add_argument("--bundle", metavar="DIR",
                   help="converted model bundle for keras/onnxruntime (default: a zoo model is converted once and "
                        "kept under $READLX_CACHE, ~/.cache/readlx)")
    r.add_argument("--batch-size", type=types.count, metavar="N", default=256, help="images per inference")
    r.add_argument("--threads", type=types.count, metavar="N", help="PyTorch threads (default: this process's)")
    r.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where PyTorch, ONNX Runtime and Keras run (default: cpu); cuda fails where unusable")
    r.add_argument("--mode", default="fast", choices=MODES,
                   help="fast (default): the exact fast runner for each layer where its measured cost is below "
                        "the reference loop's, same outcomes; reference: one full inference per fault; "
                        "fast-always: the fast runner wherever it can run")
    r.add_argument("--block-faults", type=types.count, metavar="N", default=128,
                   help="fast mode: faults per pass over the images (results are checkpointed per block)")
    r.add_argument("--cache-mib", type=types.count, metavar="MIB", default=512,
                   help="fast mode: bound on cached golden activations, in MiB")
    r.add_argument("--refill", action="store_true",
                   help="fast mode on PyTorch: retire rows back to golden at the first check and run the pending "
                        "rows of a block's faults together in full batches, where a start-up check shows rows "
                        "independent (same outcomes; 1.15x slower on ResNet20 on 2 CPU cores)")
    r.add_argument("--stack", type=types.count, metavar="K", default=None,
                   help="fast mode on PyTorch: run pooled rows (as --refill pools them) K batches at once through "
                        "the layers after a cut, the suffixes of several faults in one batch, where a start-up "
                        "check shows K x batch rows give the outputs of their own batches bit for bit (same "
                        "outcomes; default 8 on a CUDA device, 1 elsewhere)")


def _run_outputs(r: argparse._ActionsContainer) -> None:
    r.add_argument("-o", "--out", metavar="FILE", help="result NetCDF (default: runs/MODEL.nc)")
    r.add_argument("--per-image", action="store_true", help="keep each inference's outcome")
    r.add_argument("--force-noop", action="store_true", help="run no-op stuck-at faults through inference")
    r.add_argument("--checkpoint", metavar="DIR",
                   help="checkpoint folder of the run, what --resume continues from (default: OUT.partial)")
    r.add_argument("--resume", action="store_true",
                   help="continue a killed run from its checkpoint folder (-o OUT alone names it)")
    r.add_argument("--force", action="store_true", help="replace an existing result file")
    r.add_argument("--flush-seconds", type=types.duration, metavar="SECONDS", default=20.0,
                   help="write the checkpoint at least this often")


def _run_scaleout(r: argparse._ActionsContainer) -> None:
    r.add_argument("--shard", metavar="I/N", type=parse_shard,
                   help="run shard I of N of the fault list, counted from 0: 0/N .. N-1/N (e.g. 0/8 .. 7/8 for "
                        "eight jobs); merge the results with `readlx merge`")
    r.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler (e.g. tcp://scheduler:8786)")
    r.add_argument("--workers", type=types.count, metavar="N",
                   help="run on a local Dask cluster of this many worker processes")
    r.add_argument("--chunk", type=types.count, metavar="N", default=64, help="faults per Dask task")


def add_run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``run``."""
    r = sub.add_parser("run", help="run a fault campaign")
    for title, add in (("model, faults and images", _run_inputs), ("iterative campaign", _run_until),
                       ("runtimes", _run_runtimes), ("result and checkpoint", _run_outputs),
                       ("scale-out", _run_scaleout)):
        add(r.add_argument_group(title))
    # What each option is when not given: --resume takes those from the checkpoint instead.
    r.set_defaults(run_defaults=vars(r.parse_args([])))
    r.set_defaults(func=cmd_run)


def cmd_resume(args: argparse.Namespace) -> int:
    """``readlx resume OUT``: ``readlx run --resume -o OUT`` with the options kept in the checkpoint."""
    stored = invocation.stored(invocation.checkpoint_of(args.out, args.checkpoint))
    return cmd_run(argparse.Namespace(**{**args.run_defaults, **stored, "out": args.out, "resume": True,
                                         "checkpoint": args.checkpoint, "run_defaults": args.run_defaults,
                                         "command_line": getattr(args, "command_line", None)}))


def add_resume_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``resume``."""
    r = sub.add_parser("resume", help="finish an interrupted `readlx run` from its checkpoint folder alone")
    r.add_argument("out", metavar="OUT", help="the result file the interrupted run was writing (its -o)")
    r.add_argument("--checkpoint", metavar="DIR", help="its checkpoint folder, if not OUT.partial")
    defaults = sub.choices["run"].get_default("run_defaults")
    r.set_defaults(func=cmd_resume, run_defaults=defaults)


def add_merge_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``merge``."""
    m = sub.add_parser("merge", help="merge shard results into one Dataset")
    m.add_argument("shards", nargs="+", metavar="SHARD", help="shard results of `readlx run --shard I/N`")
    m.add_argument("-o", "--out", required=True, metavar="FILE", help="merged result NetCDF to write")
    m.add_argument("--force", action="store_true", help="replace an existing file (never one of the shards)")
    m.set_defaults(func=cmd_merge)
