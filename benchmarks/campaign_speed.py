"""Reference loop vs fast mode on the published ResNet20 (or the demo model), in one process.

Runs N faults drawn at random from the published ResNet20 fault list (its real mix of layers and
bits; ``--sample stratified`` takes those of ``readlx run resnet20-cifar10 --sample N --seed S``
instead) over the first M CIFAR-10 test images from ../shared/data: the fast runner on all N, the
reference loop (:func:`readlx.campaign.run_fault`, one full inference per fault) on the first K. It
checks that both give identical per-image outcome codes and counts on the common faults, and, with
``--compare-with``, against an earlier reference-mode result of the same faults (a NetCDF written
with ``--per-image``, or its ``.partial`` checkpoint directory). With ``--ablate`` it also runs the
fast runner without channel-only layers and with refill
(:mod:`readlx.campaign.runners.refill`, off by default), to show what each saves; with ``--stack K``
fast mode runs pooled rows K batches at once after a cut (the default on a CUDA device), and
``--ablate`` also runs it without stacked batches.

Then it prints throughput, per-fault times, peak memory and the time extrapolated to the whole
published list (16,627 faults), layer by layer, since a fault's cost in fast mode depends on its
layer, next to each layer's floor (:mod:`readlx.campaign.runners.floor`): the multiply-accumulates an
exact run of a fault cannot avoid, in seconds at the reference loop's own rate.

Usage::

    python benchmarks/campaign_speed.py [--faults 100] [--images 10000] [--reference-faults 10]
    python benchmarks/campaign_speed.py --demo           # demo model + synthetic data, no data needed
    python benchmarks/campaign_speed.py --device cuda --ablate   # on a GPU: stacked batches, and without

Exit status: 0 when identical (or skipped: reference data absent), 1 on any difference.
"""
from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from readlx.campaign.checkpoint import CheckpointDir
from readlx.campaign.fingerprint import fault_digest
from readlx.campaign.runners import FastOptions, TorchFastRunner
from readlx.campaign.runners.floor import floors, network_macs
from readlx.campaign.runners.reference import run_fault
from readlx.data.imageset import ImageSet
from readlx.engines.torch import TorchEngine
from readlx.fault_maps import generate, load_fault_list
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.select import random_subset, stratified_subset
from readlx.fault_maps.sites import with_outputs
from readlx.outcomes.classification import class_counts
from readlx.outcomes.records import COUNT_FIELDS, FaultRecords
from readlx.paths import data_root
from readlx.results import read_netcdf
from readlx.zoo import ZOO, load_model

PUBLISHED = "resnet20-cifar10"
DEMO = "democnn-synthetic10"


class RssPeak:
    """Peak resident memory of this process while the context is open, sampled every 20 ms."""

    def __init__(self) -> None:
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssPeak:
        self.base = self.peak = _rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize()
    except OSError:  # not Linux: the lifetime peak is the best there is
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Timed:
    """Results and timings of one mode."""

    codes: list[np.ndarray] = field(default_factory=list)
    tops: list[np.ndarray] = field(default_factory=list)
    fault_seconds: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0


def _timed(results: Callable[[], Iterator[tuple[np.ndarray, np.ndarray, bool]]]) -> Timed:
    out = Timed()
    wall, cpu = time.perf_counter(), time.process_time()
    with RssPeak() as mem:
        last = time.perf_counter()
        for codes, tops, _ in results():
            out.codes.append(codes)
            out.tops.append(tops)
            now = time.perf_counter()
            out.fault_seconds.append(now - last)
            last = now
    out.wall, out.cpu = time.perf_counter() - wall, time.process_time() - cpu
    out.rss_mib = mem.delta_mib
    return out


def _setup(args: argparse.Namespace) -> tuple[str, TorchEngine, FaultList, ImageSet, FaultList | None]:
    name = DEMO if args.demo else PUBLISHED
    bench = ZOO[name]
    table = bench.layer_table()
    engine = TorchEngine(load_model(name), table, batch_size=args.batch_size, device=args.device)
    if args.demo:
        full = generate(table, margin=0.05, seed=args.seed, mode="network-wise")
    else:
        full = load_fault_list(bench.resolve(bench.fault_list, "fault list"), table)
    pick = stratified_subset if args.sample == "stratified" else random_subset
    subset = pick(full, args.faults, args.seed)
    return name, engine, subset, bench.load_data().subset(args.images), full


def _earlier(path: Path, faults: FaultList, data: ImageSet) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """Counts (and per-image codes) by fault id from a result file or from a run's checkpoint.

    The earlier run must have used the same images; a checkpoint must be of the same fault list.
    """
    if path.is_dir():
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("faults") != fault_digest(faults) or meta.get("inputs") != data.digest():
            raise SystemExit(f"{path} is a checkpoint of another fault list or other images")
        return {faults.ids[chunk.start + k]: (_row(chunk, k), None if chunk.outcome is None else chunk.outcome[k])
                for chunk in CheckpointDir(path).read_chunks("torch") for k in range(len(chunk))}
    ds = read_netcdf(path)
    if ds.attrs.get("dataset_sha256") != data.digest():
        raise SystemExit(f"{path} was run on other images than these {len(data)}")
    counts = np.stack([ds[v].values[0, :, 0] for v in COUNT_FIELDS], axis=1)
    outcome = ds["outcome"].values[0, :, 0] if "outcome" in ds else None
    return {int(i): (counts[k], None if outcome is None else outcome[k]) for k, i in enumerate(ds.fault.values)}


def _floor_seconds(engine: TorchEngine, runner: TorchFastRunner, data: ImageSet, ref_per: float) -> dict[str, float]:
    """Each layer's floor per fault: its multiply-accumulates at the reference loop's rate."""
    table = with_outputs(engine.table, engine.model, tuple(data.images.shape[1:]))
    total = network_macs(table)
    return {layer: f.total / total * ref_per for layer, f in floors(runner.graph, table).items()}


def _row(records: FaultRecords, k: int) -> np.ndarray:
    return np.array([getattr(records, name)[k] for name in COUNT_FIELDS], np.int64)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faults", type=int, default=100, help="stratified faults run in fast mode")
    p.add_argument("--images", type=int, default=10_000, help="first M test images")
    p.add_argument("--reference-faults", type=int, help="time the reference loop on the first K faults (default N)")
    p.add_argument("--seed", type=int, default=1, help="seed of the sample")
    p.add_argument("--sample", choices=("random", "stratified"), default="random",
                   help="faults drawn at random from the list (its mix), or spread evenly over layers and bits")
    p.add_argument("--ablate", action="store_true",
                   help="also run fast mode without channel-only layers, and with refill")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where both modes run (cuda: the fast runner stacks 8 batches unless --stack says)")
    p.add_argument("--stack", type=int, default=None,
                   help="fast mode: pooled rows run K batches at once after a cut (default: the runner's)")
    p.add_argument("--block-faults", type=int, default=FastOptions.block_faults)
    p.add_argument("--cache-mib", type=int, default=FastOptions.cache_bytes // 2**20)
    p.add_argument("--compare-with", type=Path, help="reference-mode result (.nc or .partial dir) of the same faults")
    p.add_argument("--demo", action="store_true", help="demo model and synthetic data (no reference data needed)")
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here (torch.cuda.is_available() is False): skipped", file=sys.stderr)
        return 0
    if not args.demo and data_root() is None:
        print("reference data not found (../shared/data or $READLX_DATA): skipped; use --demo", file=sys.stderr)
        return 0
    name, engine, faults, data, full = _setup(args)
    k = min(args.reference_faults or len(faults), len(faults))
    print(f"{name}: {len(faults)} faults x {len(data)} images, batch {engine.batch_size}, "
          f"reference on the first {k}; torch threads {engine.describe()['threads']}", flush=True)

    t0 = time.perf_counter()
    golden = engine.infer(data.images)
    golden_pass = time.perf_counter() - t0
    stored = {f.layer: engine.weight(f.layer) for f in faults.faults}

    def reference(lo: int, hi: int) -> Timed:
        return _timed(lambda: (run_fault(engine, f, data.images, golden, stored[f.layer][f.index], True)
                               for f in faults.faults[lo:hi]))

    # half of the reference faults before the fast run and half after, so that a load that changes
    # over time (shared machines) weighs on both modes alike
    before = reference(0, k // 2)
    opts = FastOptions(block_faults=args.block_faults, cache_bytes=args.cache_mib * 2**20, stack=args.stack)
    holder: dict[str, TorchFastRunner] = {}

    def fast_results() -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        holder["runner"] = TorchFastRunner(engine, data.images, golden, opts)
        return holder["runner"].run(faults.faults)

    fast = _timed(fast_results)
    runner = holder["runner"]
    after = reference(k // 2, k)
    ref = Timed(before.codes + after.codes, before.tops + after.tops, before.fault_seconds + after.fault_seconds,
                before.wall + after.wall, before.cpu + after.cpu, max(before.rss_mib, after.rss_mib))
    fast.fault_seconds = runner.stats.fault_seconds  # blocks hand results over in bursts: use own clocks

    problems = []
    ablated: dict[str, Timed] = {}
    variants: list[tuple[str, dict[str, Any]]] = [("channel-only layers", {"channel_only": False})]
    if not runner.pooling:  # stacked batches pool rows already
        variants.append(("refill", {"refill": True}))
    if runner.refill.stack > 1:
        variants.append(("stacked batches", {"stack": 1}))
    for what, off in variants:
        if not args.ablate:
            break
        plain = FastOptions(block_faults=args.block_faults, cache_bytes=args.cache_mib * 2**20,
                            **{"stack": args.stack, **off})

        def variant(plain: FastOptions = plain, what: str = what) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
            holder[what] = TorchFastRunner(engine, data.images, golden, plain)
            return holder[what].run(faults.faults)

        ablated[what] = _timed(variant)
        label = f"with {what}" if what == "refill" else f"without {what}"
        problems += [f"fault {faults.ids[i]}: fast {label} != fast"
                     for i in range(len(faults)) if not (np.array_equal(ablated[what].codes[i], fast.codes[i])
                                                         and np.array_equal(ablated[what].tops[i], fast.tops[i]))]
    for i in range(k):
        if not (np.array_equal(ref.codes[i], fast.codes[i]) and np.array_equal(ref.tops[i], fast.tops[i])):
            problems.append(f"fault {faults.ids[i]} ({faults.faults[i].describe()}): fast != reference")
    fast_counts = [np.array([*class_counts(c), int((t == data.labels).sum())], np.int64)
                   for c, t in zip(fast.codes, fast.tops, strict=True)]
    compared = 0
    if args.compare_with is not None:
        earlier = _earlier(args.compare_with, faults, data)
        for fid, counts, codes in zip(faults.ids, fast_counts, fast.codes, strict=False):
            if fid in earlier:
                compared += 1
                want_counts, want_codes = earlier[fid]
                codes_differ = want_codes is not None and not np.array_equal(codes, want_codes)
                if not np.array_equal(counts, want_counts) or codes_differ:
                    problems.append(f"fault {fid}: fast != {args.compare_with}")

    n_img = len(data)
    ref_per, fast_per = ref.wall / max(k, 1), fast.wall / len(faults)
    rows = [("", "reference", "fast", "ratio"),
            ("faults timed", str(k), str(len(faults)), ""),
            ("fault x image / s (wall)", f"{k * n_img / ref.wall:,.0f}", f"{len(faults) * n_img / fast.wall:,.0f}",
             f"{ref_per / fast_per:.2f}"),
            ("CPU s per fault", f"{ref.cpu / max(k, 1):.3f}", f"{fast.cpu / len(faults):.3f}",
             f"{(ref.cpu / max(k, 1)) / (fast.cpu / len(faults)):.2f}"),
            ("per-fault s median", f"{_pct(ref.fault_seconds, 50):.3f}", f"{_pct(fast.fault_seconds, 50):.3f}", ""),
            ("per-fault s p90", f"{_pct(ref.fault_seconds, 90):.3f}", f"{_pct(fast.fault_seconds, 90):.3f}", ""),
            ("per-fault s max", f"{max(ref.fault_seconds, default=0):.3f}", f"{max(fast.fault_seconds):.3f}", ""),
            ("peak RSS increase MiB", f"{ref.rss_mib:.0f}", f"{fast.rss_mib:.0f}", "")]
    print(_table(rows))
    print(f"fast overheads: start-up {runner.stats.startup_seconds:.1f} s, golden passes "
          f"{runner.stats.golden_seconds:.1f} s (chunk {runner.chunk_batches * engine.batch_size} images, "
          f"block {opts.block_faults} faults); plain golden pass {golden_pass:.1f} s; pooled batches of "
          f"{runner.refill.run} rows" + ("" if runner.pooling else " (no pooling)"))

    by_layer: dict[str, list[float]] = {}
    for f, s in zip(faults.faults, fast.fault_seconds, strict=False):
        by_layer.setdefault(f.layer, []).append(s)
    population = Counter(f.layer for f in full.faults)
    total = len(full)
    fast_full = sum(population[layer] * float(np.mean(by_layer.get(layer, [fast_per]))) for layer in population)
    golden_per_block = runner.stats.golden_seconds / max(1, math.ceil(len(faults) / opts.block_faults))
    fast_full += math.ceil(total / opts.block_faults) * golden_per_block + runner.stats.startup_seconds
    ref_full = total * ref_per
    print(f"whole list ({total:,} faults, per-layer mix): reference {ref_full / 3600:.2f} h, fast "
          f"{fast_full / 3600:.2f} h, ratio {ref_full / fast_full:.1f}")
    for what, timed in ablated.items():
        label, saves = (f"with {what}", fast.wall / timed.wall) if what == "refill" else \
            (f"without {what}", timed.wall / fast.wall)
        print(f"{label}: fast {timed.wall / len(faults):.3f} s/fault, ratio "
              f"{ref_per / (timed.wall / len(faults)):.2f}; {what} saves {saves:.2f}x")
    refill = holder.get("refill", runner).refill
    print(f"refill: {refill.rows_retired:,} fault x image rows retired at their first check, {refill.rows_run:,} "
          f"run in pooled batches; cuts verified {len(refill.verified)}, refused {len(refill.refused)}"
          + "".join(f"\n  {cut}: {why}" for cut, why in refill.refused.items())
          + (f"\n  stopped: {refill.off}" if refill.off else ""))
    floor = _floor_seconds(engine, runner, data, ref_per)
    rows = [("layer", "faults in list", "sampled", "fast s/fault", "floor s/fault", "fast/floor")]
    rows += [(layer, str(population[layer]), str(len(by_layer.get(layer, []))),
              f"{np.mean(by_layer[layer]):.3f}" if layer in by_layer else "-", f"{floor[layer]:.3f}",
              f"{np.mean(by_layer[layer]) / floor[layer]:.2f}" if layer in by_layer else "-")
             for layer in population]
    print(_table(rows))
    sampled_floor = sum(floor[f.layer] for f in faults.faults)
    print(f"floor of the sampled faults {sampled_floor:.1f} s ({ref_per * len(faults) / sampled_floor:.2f}x under "
          f"the reference loop): fast's own runs {sum(fast.fault_seconds) / sampled_floor:.2f}x the floor, with "
          f"golden passes and start-up {fast.wall / sampled_floor:.2f}x")
    print(f"channel-only layers refused: {runner.channels.whole or 'none'}")
    masked = Counter(int((c == 0).sum()) == n_img for c in fast.codes)
    print(f"faults masked on every image: {masked[True]} of {len(faults)}")
    if args.compare_with is not None:
        print(f"compared with {args.compare_with}: {compared} faults")
    for line in problems:
        print("DIFFERENT:", line)
    print(f"identical outcomes: {'no' if problems else 'yes'} ({k} faults against the reference loop)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
