"""Iterative campaigns simulated on the published per-fault counts: coverage and faults used.

Each published PyTorch fault list with outcome counts (``../shared/data/dnn-benchmarks/torch/**/*_FL.csv``)
is taken as the true population: its faults' shares (masked, non-critical, SDC-1 over the images)
are known, and so is their mean. A simulated campaign runs ``readlx run --until``'s own stop rule
(:func:`readlx.planning.sequential.run_looks`, with the population's size for the finite population
correction) on a random order of the list; ``--runs`` campaigns per list and target give

- the coverage of every interval reported where the campaigns stop (must be >= the nominal level),
- the mean faults used, against the whole list and the paper's formula for the same margin.

Two targets: SDC-1 alone, and every share. With ``--pairs RESULT.nc`` (a readlx result of several
runtimes), the per-fault differences of each runtime pair are the population of ``readlx diff``'s
stop rule (:class:`readlx.planning.paired.PairTarget`, ``--delta`` points): the coverage of each
share's difference interval, the mean faults used, and the inferences against both full campaigns.

Run: ``.venv/bin/python benchmarks/iterative_coverage.py [--runs 1000] [--margin 0.01]
[--confidence 0.99] [--pairs RESULT.nc --delta 1 [--population 16627] [--no-lists]]`` (needs
``../shared/data`` for the lists).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "dnn-benchmarks" / "torch"


def published_shares(path: Path) -> dict[str, np.ndarray] | None:
    from readlx.fault_maps import load_fault_list

    counts = load_fault_list(path).published
    if counts is None:
        return None
    n = np.maximum(counts[:, 0], 1).astype(np.float64)
    return {"masked": counts[:, 1] / n, "non_critical": counts[:, 2] / n, "critical": counts[:, 3] / n}


def simulate(shares: dict[str, np.ndarray], target: object, runs: int, seed: int) -> tuple[dict[str, float], float]:
    from readlx.planning.sequential import Target, run_looks

    assert isinstance(target, Target)
    rng = np.random.default_rng(seed)
    size = len(next(iter(shares.values())))
    truth = {o: float(shares[o].mean()) for o in target.outcomes}
    covered = dict.fromkeys(target.outcomes, 0)
    used = []
    for _ in range(runs):
        order = rng.permutation(size)
        n, estimates = run_looks({o: shares[o][order] for o in target.outcomes}, target, population=size)
        used.append(n)
        for e in estimates:  # at the whole list the interval is the point itself: allow rounding
            covered[e.outcome] += e.low - 1e-12 <= truth[e.outcome] <= e.high + 1e-12
    return {o: c / runs for o, c in covered.items()}, float(np.mean(used))


def simulate_pairs(path: Path, delta: float, confidence: float, runs: int, seed: int,
                   population: int | None = None) -> None:
    import itertools

    from readlx.planning.paired import DIFF_SHARES, difference_interval
    from readlx.planning.sequential import look_sizes
    from readlx.results import read_netcdf

    ds = read_netcdf(path).isel(model=0)
    n_images = int(ds.attrs["n_images"])
    frameworks = [str(f) for f in ds.framework.values]
    rng = np.random.default_rng(seed)
    # A larger population (a published list's size) is the result's faults drawn with replacement: each
    # fault's differences on every share stay together.
    rows = rng.integers(0, ds.sizes["fault"], population) if population else np.arange(ds.sizes["fault"])
    size = len(rows)
    level = 1 - (1 - confidence) / 8
    print(f"\npaired differences from {path.name} ({ds.sizes['fault']} faults x {n_images} images"
          f"{f', resampled to {size} faults' if population else ''}), delta {delta} pp")
    for a, b in itertools.combinations(frameworks, 2):
        diffs = {o: (ds[o].sel(framework=b).values[rows] - ds[o].sel(framework=a).values[rows]) / n_images
                 for o in DIFF_SHARES}
        truth = {o: float(d.mean()) for o, d in diffs.items()}
        covered, used = dict.fromkeys(DIFF_SHARES, 0), []
        for _ in range(runs):
            order = rng.permutation(size)
            for n in look_sizes(size, 8):
                found = {o: difference_interval(d[order[:n]], level) for o, d in diffs.items()}
                if all(lo > 0 or hi < 0 or max(-lo, hi) <= delta / 100 for _, lo, hi in found.values()):
                    break
            used.append(n)
            for o, (_, lo, hi) in found.items():
                covered[o] += lo - 1e-12 <= truth[o] <= hi + 1e-12
        cells = "  ".join(f"{o} {c / runs:.3f}" for o, c in covered.items())
        mean_used = float(np.mean(used))
        print(f"  {b} - {a}: mean faults used {mean_used:.0f} of {size} ({size / mean_used:.1f}x fewer faults and "
              f"inferences than both full campaigns); coverage {cells}")
        print("    true differences (pp): " + "  ".join(f"{o} {100 * t:+.3f}" for o, t in truth.items()))
        print(f"    faults used: median {np.median(used):.0f}, 90th percentile {np.percentile(used, 90):.0f}")


def main() -> None:
    from readlx.fault_maps.sampling import sample_size, t_value
    from readlx.planning.sequential import SHARES, Target

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--margin", type=float, default=0.01)
    parser.add_argument("--confidence", type=float, default=0.99)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", metavar="RESULT", help="a result of several runtimes: simulate readlx diff on it")
    parser.add_argument("--delta", type=float, default=1.0, help="readlx diff's --delta, in points")
    parser.add_argument("--population", type=int, metavar="N",
                        help="resample the --pairs result's faults to a population of N (e.g. 16627, the published "
                             "ResNet20 list)")
    parser.add_argument("--lists", action=argparse.BooleanOptionalAction, default=True,
                        help="simulate the published lists (default) or not")
    args = parser.parse_args()
    if args.pairs:
        simulate_pairs(Path(args.pairs), args.delta, args.confidence, args.runs, args.seed, args.population)
    if not args.lists:
        return
    if not SHARED.is_dir():
        raise SystemExit(f"no published lists at {SHARED}")
    targets = {"SDC-1": Target(args.margin, args.confidence, ("critical",)),
               "every share": Target(args.margin, args.confidence, SHARES)}
    print(f"{args.runs} simulated campaigns per list and target; margin {args.margin}, confidence {args.confidence}")
    print(f"{'list':34s} {'faults':>7s} {'target':12s} {'mean used':>10s} {'of list':>8s} "
          f"{'of formula':>10s}  coverage per share")
    t0 = time.perf_counter()
    for path in sorted(SHARED.rglob("*_FL.csv")):
        shares = published_shares(path)
        if shares is None:
            continue
        size = len(shares["critical"])
        formula = sample_size(10**9, args.margin, t=t_value(args.confidence))  # the paper's n, large population
        for label, target in targets.items():
            coverage, used = simulate(shares, target, args.runs, args.seed)
            cells = "  ".join(f"{o} {c:.3f}" for o, c in coverage.items())
            flag = "" if min(coverage.values()) >= args.confidence else "  BELOW NOMINAL"
            print(f"{path.name:34s} {size:7d} {label:12s} {used:10.0f} {used / size:8.1%} {used / formula:10.1%}  "
                  f"{cells}{flag}", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
