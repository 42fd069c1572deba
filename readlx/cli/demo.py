"""``readlx demo``: the whole pipeline on the embedded default, no download and no external data.

Shipped demo CNN -> synthetic test set -> statistical fault list -> (conversion to Keras and ONNX)
-> campaign on every runtime -> NetCDF -> report, plus the no-op control fault forced through the
full inference path on every runtime.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.cli import types

if TYPE_CHECKING:  # pragma: no cover
    from readlx.data.imageset import ImageSet
    from readlx.engines.base import Engine

MODEL = "democnn-synthetic10"


def _engines(frameworks: list[str], out: Path, n_images: int) -> list[Engine]:
    from readlx.data.synthetic import synthetic
    from readlx.engines import RUNTIMES, Artifact
    from readlx.zoo import ZOO, load_model

    shipped = Artifact(ZOO[MODEL].layer_table(), lambda: load_model(MODEL))  # PyTorch runs the shipped weights
    engines: list[Engine] = [RUNTIMES.build("torch", shipped, batch_size=64)]
    others = [f for f in frameworks if f != "torch"]
    if others:
        from readlx.converters.conversion import convert_bundle

        t0 = time.perf_counter()
        bundle = convert_bundle(MODEL, out / "bundle", images=synthetic(min(n_images, 64)).images)
        print(f"converted {MODEL} to Keras and ONNX in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        assert bundle.report is not None  # a bundle just converted holds its equivalence report
        print(bundle.report.format())
        engines += [bundle.engine(fw, batch_size=64) for fw in others]
    return engines


def run_demo(out: Path, n_images: int = 256, margin: float = 0.05,
             frameworks: str = "torch,keras,onnxruntime", force: bool = False) -> int:
    """Run the demo into directory ``out`` (an existing one readlx made is replaced with ``force``);
    returns the process exit code."""
    from readlx.campaign import CampaignOptions, run_campaign
    from readlx.comparisons.summary import format_summary, summarize
    from readlx.data.synthetic import synthetic
    from readlx.fault_maps import generate, save_fault_list
    from readlx.outputs import remove_dir, replace_dir
    from readlx.results import read_netcdf, write_netcdf
    from readlx.zoo import ZOO

    fws = [f.strip() for f in frameworks.split(",") if f.strip()]
    replace_dir(out, force)
    bench = ZOO[MODEL]
    data = synthetic(n_images)
    faults = generate(bench.layer_table(), margin=margin, seed=2026, mode="network-wise")
    save_fault_list(faults, out / "faults.csv", format="readlx")
    engines = _engines(fws, out, n_images)
    print(f"{MODEL}: {len(faults)} bit flips (margin {margin}, 99 % confidence) x {len(data)} images "
          f"on {', '.join(e.framework for e in engines)}")
    t0 = time.perf_counter()
    ds = run_campaign(engines, faults, data, model=MODEL,
                      options=CampaignOptions(checkpoint=out / "result.nc.partial", attrs=bench.characterization()))
    write_netcdf(ds, out / "result.nc")
    remove_dir(out / "result.nc.partial")
    print(f"campaign: {time.perf_counter() - t0:.1f} s -> {out / 'result.nc'}")
    print(format_summary(summarize(read_netcdf(out / "result.nc"))))
    return _control(engines, data)


def _control(engines: list[Engine], data: ImageSet) -> int:
    from readlx.campaign import CampaignOptions, noop_control, run_campaign
    from readlx.fault_maps.faultlist import FaultList

    control = FaultList.from_faults(MODEL, (noop_control(engines[0]),))
    ds = run_campaign(engines, control, data, model=MODEL, options=CampaignOptions(skip_noop=False))
    masked = ds.masked.values[0, 0]
    ok = bool((masked == len(data)).all())
    print(f"control ({control.faults[0].describe()}, forced through inference): masked "
          + ", ".join(f"{fw} {m}/{len(data)}" for fw, m in zip(ds.framework.values, masked, strict=True))
          + (" -- ok" if ok else " -- FAILED"))
    return 0 if ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(Path(args.out), n_images=args.images, margin=args.margin, frameworks=args.frameworks,
                    force=args.force)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``demo``."""
    d = sub.add_parser("demo", help="the whole pipeline on the embedded synthetic data set")
    d.add_argument("-o", "--out", default="runs/demo", metavar="DIR",
                   help="directory for the fault list, the converted bundle and result.nc (a new one, or one "
                        "an earlier demo made, with --force)")
    d.add_argument("--force", action="store_true", help="replace the directory of an earlier demo")
    d.add_argument("--images", type=types.count, default=256, metavar="N", help="synthetic test images")
    d.add_argument("--margin", type=types.share, default=0.05,
                   help="error margin of the network-wise fault list (99 %% confidence)")
    d.add_argument("--frameworks", default="torch,keras,onnxruntime", metavar="NAMES",
                   help="comma-separated runtimes: %(runtimes)s")
    d.set_defaults(func=cmd_demo)
