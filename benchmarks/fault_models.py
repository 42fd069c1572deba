"""Activation faults and multi-bit weight faults on three runtimes: fast == reference, shares, paired tests.

On ResNet20 (published checkpoint, CIFAR-10 test set), it draws

- ``--activations N`` stratified activation faults (bit flips, one bit, network-wise over the layers'
  output elements),
- ``--multibit N`` weight faults of 2 and of 3 adjacent bits each,
- ``--normalized N`` stratified faults of the BatchNorm outputs (as ``--activations``), and
- ``--transient N`` transient activation faults (network-wise; each image draws its element and bit),

runs each list on ``torch``, ``keras`` and ``onnxruntime`` in the default fast mode and, for every
list but the multi-bit ones (those too with ``--compare-multibit``), in ``--mode reference`` too (one
process, the same images), checks that the two give identical per-image outcomes on every runtime,
and prints per list and runtime: seconds per fault (the whole run, set-up and golden pass included,
over the faults) in each mode and their ratio, the outcome shares, and the paired tests of each
runtime pair (masked and SDC-1 counts per fault).

Run: ``.venv/bin/python benchmarks/fault_models.py [--activations 200] [--multibit 100] [--normalized 0]
[--transient 0] [--images 1000]``
(needs ``../shared/data``: the published ResNet20 checkpoint and the CIFAR-10 test set).
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

THREE = ("torch", "keras", "onnxruntime")
MODEL = "resnet20-cifar10"


def fault_lists(args: argparse.Namespace) -> dict[str, Any]:
    from readlx.campaign.inputs import subject, table_with_outputs
    from readlx.fault_maps import generate
    from readlx.provenance import recorded_subset

    model = subject(MODEL)
    from readlx.fault_maps.transient import transient_faults

    lists: dict[str, Any] = {}
    table = table_with_outputs(model) if args.activations or args.normalized or args.transient else None
    for site, count in (("activation", args.activations), ("normalized", args.normalized)):
        if count:
            population = generate(table, margin=0.01, mode="network-wise", site=site, seed=args.seed)
            lists[f"{count} {site} faults"] = recorded_subset(population, count, args.seed)
    if args.transient:
        lists[f"{args.transient} transient activation faults"] = transient_faults(table, args.transient, seed=args.seed)
    for width in (2, 3) if args.multibit else ():
        population = generate(model.artifact.table, margin=0.01, mode="network-wise", bits=width, seed=args.seed)
        lists[f"{args.multibit} weight faults of {width} bits"] = recorded_subset(population, args.multibit, args.seed)
    return lists


def run(faults: Any, framework: str, mode: str, images: int) -> tuple[xr.Dataset, float]:
    import readlx

    t0 = time.perf_counter()
    ds = readlx.run(MODEL, None, faults, frameworks=(framework,), mode=mode, images=images, per_image=True,
                    progress=False)
    return ds, time.perf_counter() - t0


def shares(ds: xr.Dataset) -> str:
    n = ds.sizes["fault"] * int(ds.attrs["n_images"])
    parts = [f"{name} {100 * float(ds[name].sum()) / n:6.2f} %"
             for name in ("masked", "non_critical", "critical", "nan_or_inf")]
    return "  ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activations", type=int, default=200)
    parser.add_argument("--multibit", type=int, default=100)
    parser.add_argument("--normalized", type=int, default=0)
    parser.add_argument("--transient", type=int, default=0)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frameworks", default=",".join(THREE))
    parser.add_argument("--compare-multibit", action="store_true", help="run the multi-bit lists in both modes")
    parser.add_argument("--fast-only", action="store_true", help="skip --mode reference (no identity check)")
    parser.add_argument("--save", metavar="DIR", help="write each list's three-runtime Dataset (NetCDF) here")
    args = parser.parse_args()
    frameworks = args.frameworks.split(",")
    for label, faults in fault_lists(args).items():
        print(f"\n== {label} x {args.images} images ({MODEL})", flush=True)
        head = ("runtime", "reference s/fault", "fast s/fault", "ratio", "identical")
        print(f"{head[0]:12s} {head[1]:>18s} {head[2]:>13s} {head[3]:>6s} {head[4]:>9s}  shares")
        fast_sets = []
        compare = not args.fast_only and (args.compare_multibit or "bits" not in label)
        for fw in frameworks:
            fast, t_fast = run(faults, fw, "fast", args.images)
            n = len(faults)
            if compare:
                ref, t_ref = run(faults, fw, "reference", args.images)
                same = str(bool(np.array_equal(ref.outcome.values, fast.outcome.values)))
                times = f"{t_ref / n:18.3f} {t_fast / n:13.3f} {t_ref / t_fast:6.2f}"
            else:
                same, times = "-", f"{'-':>18s} {t_fast / n:13.3f} {'-':>6s}"
            print(f"{fw:12s} {times} {same:>9s}  {shares(fast)}", flush=True)
            fast_sets.append(fast)
        if len(fast_sets) < 2:
            continue
        both = merge_frameworks(fast_sets)
        if args.save:
            from readlx.results import write_netcdf

            Path(args.save).mkdir(parents=True, exist_ok=True)
            write_netcdf(both, Path(args.save) / (label.replace(" ", "_") + ".nc"))
        for a, b in itertools.combinations(frameworks, 2):
            for metric in ("masked", "critical"):
                test = both.readlx.paired_test(a, b, metric=metric)
                print(f"  {a} vs {b} {metric:9s}: differs on {test.faults_differing}/{test.n_faults} faults, "
                      f"{test.test.method} p = {test.test.p_value:.3g}")


def merge_frameworks(datasets: list[xr.Dataset]) -> xr.Dataset:
    """One Dataset with every runtime of ``datasets`` (one runtime each, the same faults and images)."""
    return xr.concat(datasets, dim="framework", data_vars="minimal", coords="minimal", compat="override",
                     combine_attrs="override")


if __name__ == "__main__":
    main()
