"""``readlx report RESULT``: the summary of a result, its runtimes' divergence, agreement with
published counts, figures and the HTML report."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr


def _print_divergence(ds: xr.Dataset) -> None:
    from readlx.comparisons.divergence import format_most_divergent, most_divergent
    from readlx.comparisons.tables import contingency_table, paired_tests_table
    from readlx.comparisons.text import table

    for title, (head, rows) in (("paired tests per fault", paired_tests_table(ds)),
                                ("image-level contingency, all faults", contingency_table(ds))):
        if rows:
            print(f"\n{title}\n{table(head, rows)}")
    print(f"\nmost divergent faults\n{format_most_divergent(most_divergent(ds, top=10))}")


def print_report(ds: xr.Dataset, published: str | None) -> None:
    """Summary; with several frameworks, paired tests, contingency and the most divergent faults;
    with ``published``, the agreement with its published counts."""
    from readlx.comparisons.summary import format_summary, summarize

    print(format_summary(summarize(ds)))
    if ds.sizes["framework"] > 1:
        _print_divergence(ds)
    if published:
        from readlx.comparisons.published import agreement
        from readlx.fault_maps import load_fault_list

        ref = load_fault_list(published)
        for a in agreement(ds, ref):
            print()
            print(a.format())


def cmd_report(args: argparse.Namespace) -> int:
    from readlx.results import read_netcdf

    ds = read_netcdf(args.result)
    print_report(ds, args.published)
    if args.plots:
        from readlx.comparisons.plots import report_plots

        for path in report_plots(ds, args.plots):
            print(f"figure {path}")
    if args.html:
        from readlx.comparisons.html import report_html
        from readlx.fault_maps import load_fault_list

        ref = load_fault_list(args.published) if args.published else None
        print(f"report {report_html(ds, args.html, ref)}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``report``."""
    rep = sub.add_parser("report", help="Table-VI summary of a result; agreement with published counts")
    rep.add_argument("result")
    rep.add_argument("--published", help="published fault list with outcome counts")
    rep.add_argument("--plots", help="write the figures (PNG) into this directory")
    rep.add_argument("--html", help="write one self-contained HTML report")
    rep.set_defaults(func=cmd_report)
