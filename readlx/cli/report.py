"""``readlx report RESULT``: the summary of a result, its runtimes' divergence, agreement with
published counts, vulnerability rankings, figures and the HTML report."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from readlx.comparisons.ranking import RANKINGS

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

    from readlx.fault_maps.faultlist import FaultList


def _print_divergence(ds: xr.Dataset) -> None:
    from readlx.comparisons.divergence import format_most_divergent, most_divergent
    from readlx.comparisons.tables import contingency_table, paired_tests_table
    from readlx.comparisons.text import table

    for title, (head, rows) in (("paired tests per fault", paired_tests_table(ds)),
                                ("image-level contingency, all faults", contingency_table(ds))):
        if rows:
            print(f"\n{title}\n{table(head, rows)}")
    print(f"\nmost divergent faults\n{format_most_divergent(most_divergent(ds, top=10))}")


def published_reference(ds: xr.Dataset, path: str) -> FaultList:
    """The fault list at ``path``, checked to hold published counts comparable with ``ds``: over as many
    images per fault, for every fault of ``ds``; the errors say which campaign would compare."""
    import numpy as np

    from readlx.comparisons.published import check_weight_faults
    from readlx.errors import ArgumentError, ReadlxError
    from readlx.fault_maps import load_fault_list

    try:
        check_weight_faults(ds)
    except ReadlxError as e:
        raise ArgumentError(str(e), argument="published") from e
    ref = load_fault_list(path)
    model = str(ds.attrs.get("model_name", ds.model.values[0]))
    if ref.published is None:
        raise ArgumentError(f"{path} holds no published outcome counts (only the fault columns); pass a list with "
                            "the columns n_injections,masked,non_critical,critical, such as the model's published "
                            "*_FL.csv", argument="published")
    missing = np.setdiff1d(ds.fault.values, np.asarray(ref.ids))
    if missing.size:
        raise ArgumentError(f"{missing.size} of the result's {ds.sizes['fault']} faults (ids {missing[:5].tolist()}"
                            f"{' ...' if missing.size > 5 else ''}) are not in {path}: compare a campaign run on "
                            f"that list, `readlx run {model} --faults {path} -o OUT`", argument="published")
    counts = sorted({int(n) for n in ref.published[:, 0]})
    n_images = int(ds.attrs["n_images"])
    if counts != [n_images]:
        over = " or ".join(str(n) for n in counts)
        raise ArgumentError(
            f"the result ran {n_images} images per fault, the published counts in {path} are over {over}: the "
            f"per-fault agreement needs a campaign over the same {over} images. Rerun it without --images (a "
            f"subset of the faults is fine: `readlx run {model} --faults {path} --sample {ds.sizes['fault']} -o OUT`"
            f"), or leave out --published for this result's summary, figures and HTML report", argument="published")
    return ref


def print_report(ds: xr.Dataset, published: str | FaultList | None, rank: str | None = None) -> None:
    """Summary; with several frameworks, paired tests, contingency and the most divergent faults;
    with ``published`` (a path, or the list :func:`published_reference` read), the agreement with its
    published counts; with ``rank`` (one of :data:`~readlx.comparisons.ranking.RANKINGS`), the
    vulnerability ranking of each fault site."""
    from readlx.comparisons.summary import format_summary, summarize

    print(format_summary(summarize(ds)))
    if ds.sizes["framework"] > 1:
        _print_divergence(ds)
    if published is not None:
        from readlx.comparisons.published import agreement

        ref = published_reference(ds, published) if isinstance(published, str) else published
        for a in agreement(ds, ref):
            print()
            print(a.format())
    if rank is not None:
        from readlx.comparisons.ranking import format_ranking, rank_layers

        print(f"\n{format_ranking(rank_layers(ds, rank))}")


def cmd_report(args: argparse.Namespace) -> int:
    from readlx.results import read_netcdf

    plots = args.plots or args.out
    html = args.html or (str(Path(args.out) / "report.html") if args.out else None)
    _claim(args, plots, html)
    ds = read_netcdf(args.result)
    ref = published_reference(ds, args.published) if args.published else None
    print_report(ds, ref, args.rank)
    if plots:
        from readlx.comparisons.plots import report_plots

        paths = report_plots(ds, plots, baseline=args.baseline)
        for stem in dict.fromkeys(str(Path(p).with_suffix("")) for p in paths):
            print(f"figure {stem}.{{png,pdf,svg}}")
    if html:
        from readlx.comparisons.html import report_html

        Path(html).parent.mkdir(parents=True, exist_ok=True)
        print(f"report {report_html(ds, html, ref, baseline=args.baseline)}")
    return 0


def _claim(args: argparse.Namespace, plots: str | None, html: str | None) -> None:
    """Check the outputs before any work: a figure folder holding files, or an HTML file, that exists is
    replaced only with ``--force``; neither may be an input."""
    from readlx.errors import OutputError
    from readlx.outputs import claim

    inputs = [p for p in (args.result, args.published) if p]
    if plots:
        folder = claim(plots, force=True, inputs=inputs, kind="dir")
        if folder.is_dir() and any(folder.iterdir()) and not args.force:
            raise OutputError("holds files; pass --force to write the figures over those of the same name",
                              path=folder)
    if html:
        claim(html, force=args.force, inputs=inputs)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``report``."""
    rep = sub.add_parser("report", help="Table-VI summary of a result; agreement with published counts")
    rep.add_argument("result", help="campaign result (NetCDF, written by `readlx run` or `readlx merge`)")
    rep.add_argument("--published", metavar="FILE",
                     help="published fault list with per-fault outcome counts (e.g. the model's *_FL.csv); the "
                          "result must have run the same images (all of the test set for the published lists)")
    rep.add_argument("--rank", choices=RANKINGS,
                     help="rank the layers (or bit positions, a multi-bit fault by its most significant bit) by "
                          "SDC-1 share, one table per fault site (weights, activations), with each runtime's "
                          "SDC-1 %% and its 95 %% Wilson interval over the faults, and masked %%")
    rep.add_argument("--plots", metavar="DIR", help="write the figures (PNG, PDF and SVG) into this directory")
    rep.add_argument("--baseline", metavar="RUNTIME",
                     help="the runtime the figures show the others' differences from (default: torch if the "
                          "result has it, else its first runtime)")
    rep.add_argument("--html", metavar="FILE", help="write one self-contained HTML report")
    rep.add_argument("-o", "--out", metavar="DIR",
                     help="write the figures and report.html into this directory (--plots and --html win)")
    rep.add_argument("--force", action="store_true", help="replace existing figures and HTML report")
    rep.set_defaults(func=cmd_report)
