"""The ``readlx`` command line. The only place in readlx that prints."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from readlx.errors import ReadlxError  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from readlx.campaign.spec import CampaignSpec


def _progress_bar() -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A tqdm bar per framework (stderr); on close, each framework's wall time (stdout)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}
    opened = time.perf_counter()
    started: dict[str, float] = {}
    finished: dict[str, float] = {}

    def update(framework: str, done: int, total: int) -> None:
        bar = bars.get(framework)
        if bar is None:
            # Frameworks run one after the other, and the first report comes after a whole fast-mode
            # block: a framework's clock starts when the previous one finished (its golden pass and
            # set-up included).
            started[framework] = max(finished.values(), default=opened)
            bar = bars[framework] = tqdm(total=total, initial=done - 1, desc=framework, unit="fault",
                                         file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)
        finished[framework] = time.perf_counter()

    def close() -> None:
        for bar in bars.values():
            bar.close()
        for fw, t0 in started.items():
            print(f"{fw}: {bars[fw].n - bars[fw].initial} faults in {finished[fw] - t0:.1f} s "
                  "(set-up and golden pass included)")

    return update, close


# -- zoo ---------------------------------------------------------------------------------------------
def cmd_zoo_list(args: argparse.Namespace) -> int:
    from readlx.zoo import ZOO

    for name, bench in ZOO.items():
        weights = "published checkpoint" if bench.checkpoint else "shipped weights" if name.startswith("demo") else "seeded random weights"
        print(f"{name:24s} {bench.architecture:12s} {bench.dataset:12s} {bench.num_classes:4d} classes  {weights}")
    return 0


def cmd_zoo_show(args: argparse.Namespace) -> int:
    from readlx.zoo import ZOO
    from readlx.zoo.cards import format_card

    print(format_card(ZOO[args.name]))
    return 0


# -- faults ------------------------------------------------------------------------------------------
def cmd_faults_generate(args: argparse.Namespace) -> int:
    from readlx.fault_maps import generate, save_fault_list
    from readlx.zoo import ZOO

    table = ZOO[args.model].layer_table()
    fl = generate(table, margin=args.margin, confidence=args.confidence, p=args.p, seed=args.seed, mode=args.mode)
    save_fault_list(fl, args.out, format=args.format)
    s = fl.sampling
    print(f"{len(fl)} faults for {args.model} ({s.mode}; population {s.population}, margin {s.margin}, "
          f"confidence {s.confidence}, seed {s.seed}) -> {args.out}")
    return 0


def cmd_faults_import(args: argparse.Namespace) -> int:
    from readlx.fault_maps import load_fault_list, save_fault_list
    from readlx.zoo import ZOO

    fl = load_fault_list(args.file, ZOO[args.model].layer_table())
    save_fault_list(fl, args.out, format="readlx")
    print(f"{len(fl)} faults of {args.file} validated against {args.model} -> {args.out}")
    return 0


def cmd_faults_show(args: argparse.Namespace) -> int:
    from collections import Counter

    from readlx.fault_maps import load_fault_list
    from readlx.zoo import ZOO

    table = ZOO[args.model].layer_table() if args.model else None
    fl = load_fault_list(args.file, table)
    print(f"{args.file}: {len(fl)} faults of model {fl.model!r}"
          + (", with published outcome counts" if fl.published is not None else ""))
    if fl.sampling is not None:
        print(f"sampling: {fl.sampling}")
    kinds = Counter(f.kind.value for f in fl)
    print("kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print("faults per layer:")
    for layer, n in Counter(f.layer for f in fl).items():
        print(f"  {layer:28s} {n:6d}")
    bits = Counter(f.bit for f in fl)
    print("faults per bit: " + " ".join(f"{b}:{bits.get(b, 0)}" for b in range(32)))
    return 0


# -- run ---------------------------------------------------------------------------------------------
def _fault_list(args: argparse.Namespace, bench, table):  # noqa: ANN001, ANN202
    from readlx.fault_maps import generate, load_fault_list
    from readlx.fault_maps.select import stratified_subset

    path = args.faults or (bench.resolve(bench.fault_list, "fault list") if bench.fault_list else None)
    if path is not None:
        fl = load_fault_list(path, table)
        fl.source = str(path)  # the results name the file the faults were read from
    else:
        fl = generate(table, margin=0.05, seed=args.seed, mode="network-wise")
    return stratified_subset(fl, args.sample, args.seed) if args.sample else fl


def _spec(args: argparse.Namespace) -> "CampaignSpec":
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
    )


def _execute(args: argparse.Namespace, spec, faults, opts, out: Path):  # noqa: ANN001, ANN202
    from readlx.campaign import run_campaign
    from readlx.campaign.scaleout import parse_shard, run_dask, run_shard

    if args.dask or args.workers:
        from distributed import Client, LocalCluster

        if args.dask:
            with Client(args.dask) as client:
                return run_dask(spec, faults, client, chunk=args.chunk, options=opts, checkpoint=opts.checkpoint)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            return run_dask(spec, faults, client, chunk=args.chunk, options=opts, checkpoint=opts.checkpoint)
    if args.shard:
        index, count = parse_shard(args.shard)
        return run_shard(spec, faults, index, count, opts)
    return run_campaign(spec.engines(), faults, spec.dataset(), model=spec.model, options=opts)


def _fast_options(args: argparse.Namespace):  # noqa: ANN202 - FastOptions, imported lazily (torch)
    from readlx.campaign.runners import FastOptions

    return FastOptions(block_faults=args.block_faults, cache_bytes=args.cache_mib << 20)


def cmd_run(args: argparse.Namespace) -> int:
    from readlx.campaign import CampaignOptions
    from readlx.results import write_netcdf
    from readlx.zoo import ZOO

    bench = ZOO[args.model]
    spec = _spec(args)
    faults = _fault_list(args, bench, bench.layer_table())
    out = Path(args.out or f"runs/{args.model}.nc")
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = Path(args.checkpoint) if args.checkpoint else out.with_name(out.name + ".partial")
    update, close = _progress_bar()
    opts = CampaignOptions(per_image=args.per_image, skip_noop=not args.force_noop, checkpoint=ckpt,
                           resume=args.resume, progress=update, attrs=bench.characterization(),
                           flush_seconds=args.flush_seconds, mode=args.mode, fast=_fast_options(args))
    print(f"{args.model}: {len(faults)} faults x {args.images or 'all'} images on {', '.join(spec.frameworks)}"
          f" (checkpoint {ckpt})", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        ds = _execute(args, spec, faults, opts, out)
    finally:
        close()
    write_netcdf(ds, out)
    shutil.rmtree(ckpt, ignore_errors=True)
    print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
    _print_report(ds, None)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from readlx.campaign.scaleout import merge_files

    ds = merge_files(args.shards, args.out)
    print(f"merged {len(args.shards)} shards ({ds.sizes['fault']} faults) -> {args.out}")
    return 0


# -- report ------------------------------------------------------------------------------------------
def _print_report(ds, reference: str | None) -> None:  # noqa: ANN001
    from readlx.comparisons.summary import format_summary, summarize

    print(format_summary(summarize(ds)))
    if ds.sizes["framework"] > 1:
        from readlx.comparisons.divergence import format_most_divergent, most_divergent
        from readlx.comparisons.tables import contingency_table, paired_tests_table
        from readlx.comparisons.text import table

        for title, (head, rows) in (("paired tests per fault", paired_tests_table(ds)),
                                    ("image-level contingency, all faults", contingency_table(ds))):
            if rows:
                print(f"\n{title}\n{table(head, rows)}")
        print(f"\nmost divergent faults\n{format_most_divergent(most_divergent(ds, top=10))}")
    if reference:
        from readlx.comparisons.reference import agreement
        from readlx.fault_maps import load_fault_list

        ref = load_fault_list(reference)
        for a in agreement(ds, ref):
            print()
            print(a.format())


def cmd_report(args: argparse.Namespace) -> int:
    from readlx.results import read_netcdf

    ds = read_netcdf(args.result)
    _print_report(ds, args.reference)
    if args.plots:
        from readlx.comparisons.plots import report_plots

        for path in report_plots(ds, args.plots):
            print(f"figure {path}")
    if args.html:
        from readlx.comparisons.html import report_html
        from readlx.fault_maps import load_fault_list

        ref = load_fault_list(args.reference) if args.reference else None
        print(f"report {report_html(ds, args.html, ref)}")
    return 0


def cmd_numerics(args: argparse.Namespace) -> int:
    from readlx.cli.numerics import explain_command, numerics_command
    from readlx.engines.variants import split_variants

    if args.model == "explain":
        if not args.result or not args.reference:
            raise ReadlxError("usage: readlx numerics explain RESULT --reference FILE")
        print(explain_command(args.result, args.reference, baseline=args.baseline, weights=args.weights))
        return 0
    update, close = _progress_bar()
    kwargs = {"variants": split_variants(args.variants)} if args.variants else {}
    if args.campaign_variants:
        kwargs["campaign_variants"] = split_variants(args.campaign_variants)
    try:
        print(numerics_command(args.model, images=args.images, campaign_images=args.campaign_images,
                               faults=args.faults, sample=args.sample, seed=args.seed, data=args.data,
                               weights=args.weights, batch_size=args.batch_size, out=args.out,
                               progress=update, **kwargs))
    finally:
        close()
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from readlx.converters.bundle import convert_bundle
    from readlx.zoo import ZOO

    bench = ZOO[args.model]
    images = labels = None
    if args.images:
        data = bench.load_data(args.data, args.images)
        images, labels = data.images, data.labels
    t0 = time.perf_counter()
    bundle = convert_bundle(args.model, args.out, checkpoint=args.weights, images=images, labels=labels,
                            tolerance=args.tolerance, require_equivalent=not args.keep_failing,
                            overwrite=args.overwrite)
    print(bundle.report.format())
    print(f"bundle {args.out} written in {time.perf_counter() - t0:.1f} s")
    return 0 if bundle.report.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from readlx.cli.demo import run_demo

    return run_demo(Path(args.out), n_images=args.images, margin=args.margin, frameworks=args.frameworks)


# -- parser ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="readlx", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    zoo = sub.add_parser("zoo", help="the model zoo").add_subparsers(dest="zoo_command", required=True)
    zoo.add_parser("list", help="list the models").set_defaults(func=cmd_zoo_list)
    show = zoo.add_parser("show", help="print a model's benchmark card")
    show.add_argument("name")
    show.set_defaults(func=cmd_zoo_show)

    faults = sub.add_parser("faults", help="fault lists").add_subparsers(dest="faults_command", required=True)
    g = faults.add_parser("generate", help="draw a statistical fault list")
    g.add_argument("model")
    g.add_argument("-o", "--out", required=True)
    g.add_argument("--margin", type=float, default=0.01)
    g.add_argument("--confidence", type=float, default=0.99)
    g.add_argument("--p", type=float, default=0.5)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--mode", default="paper", choices=("paper", "network-wise", "layer-wise"))
    g.add_argument("--format", default="readlx", choices=("readlx", "paper-torch"))
    g.set_defaults(func=cmd_faults_generate)
    i = faults.add_parser("import", help="validate a fault list (e.g. a published CSV) and save it in readlx's format")
    i.add_argument("file")
    i.add_argument("--model", required=True)
    i.add_argument("-o", "--out", required=True)
    i.set_defaults(func=cmd_faults_import)
    s = faults.add_parser("show", help="summarize a fault list")
    s.add_argument("file")
    s.add_argument("--model", help="validate against this zoo model")
    s.set_defaults(func=cmd_faults_show)

    r = sub.add_parser("run", help="run a fault campaign")
    r.add_argument("model")
    r.add_argument("--faults", help="fault list (default: the model's published list, else a generated one)")
    r.add_argument("--sample", type=int, help="run a stratified subset of this many faults")
    r.add_argument("--seed", type=int, default=0, help="seed of the subset / generated list")
    r.add_argument("--images", type=int, help="use the first N test images")
    r.add_argument("--data", help="dataset directory (default: under the reference data)")
    r.add_argument("--weights", help="checkpoint (default: the published one)")
    r.add_argument("--frameworks", default="torch", help="comma-separated: torch,keras,onnxruntime")
    r.add_argument("--bundle", help="converted model bundle for keras/onnxruntime")
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
    r.add_argument("--shard", help="run shard i/N of the fault list (merge the results with `readlx merge`)")
    r.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler")
    r.add_argument("--workers", type=int, help="run on a local Dask cluster of this many worker processes")
    r.add_argument("--chunk", type=int, default=64, help="faults per Dask task")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("convert", help="convert a zoo model to Keras and ONNX, with an equivalence report")
    c.add_argument("model")
    c.add_argument("--out", required=True, help="bundle directory")
    c.add_argument("--weights", help="checkpoint (default: the published one, else seeded random weights)")
    c.add_argument("--images", type=int, help="check equivalence on the first N test images (default: 16 random)")
    c.add_argument("--data", help="dataset directory for --images")
    c.add_argument("--tolerance", type=float, default=1e-5, help="max abs output difference vs PyTorch")
    c.add_argument("--keep-failing", action="store_true", help="write the bundle even if the check fails")
    c.add_argument("--overwrite", action="store_true")
    c.set_defaults(func=cmd_convert)

    m = sub.add_parser("merge", help="merge shard results into one Dataset")
    m.add_argument("shards", nargs="+")
    m.add_argument("-o", "--out", required=True)
    m.set_defaults(func=cmd_merge)

    rep = sub.add_parser("report", help="Table-VI summary of a result; agreement with published counts")
    rep.add_argument("result")
    rep.add_argument("--reference", help="published fault list with outcome counts")
    rep.add_argument("--plots", help="write the figures (PNG) into this directory")
    rep.add_argument("--html", help="write one self-contained HTML report")
    rep.set_defaults(func=cmd_report)

    n = sub.add_parser("numerics", help="convolution algorithms and arithmetic variants; "
                       "`readlx numerics explain RESULT --reference FILE` explains published results")
    n.add_argument("model", help="zoo model, or 'explain'")
    n.add_argument("result", nargs="?", help="with 'explain': a campaign result with several variants")
    n.add_argument("--reference", help="with 'explain': published fault list with outcome counts")
    n.add_argument("--baseline", help="with 'explain': the variant to compare against")
    n.add_argument("--variants", help="comma-separated golden variants")
    n.add_argument("--campaign-variants", help="comma-separated variants of the fault campaign")
    n.add_argument("--images", type=int, default=1000)
    n.add_argument("--campaign-images", type=int, default=200)
    n.add_argument("--faults", help="fault list (default: the published one)")
    n.add_argument("--sample", type=int, default=50, help="faults of the campaign (0: no campaign)")
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("--data")
    n.add_argument("--weights")
    n.add_argument("--batch-size", type=int, default=250)
    n.add_argument("-o", "--out", help="directory for golden.nc, campaign.nc, report.html")
    n.set_defaults(func=cmd_numerics)

    d = sub.add_parser("demo", help="the whole pipeline on the embedded synthetic data set")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--images", type=int, default=256)
    d.add_argument("--margin", type=float, default=0.05)
    d.add_argument("--frameworks", default="torch,keras,onnxruntime")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ReadlxError as e:
        print(f"readlx: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("readlx: interrupted; rerun with --resume to continue from the checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
