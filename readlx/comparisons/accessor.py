"""The ``ds.readlx`` accessor: the comparisons as methods of a campaign Dataset.

Importing this module registers the accessor; every method only delegates to the function named
in its docstring.

Examples
--------
>>> from readlx.comparisons.examples import toy_dataset
>>> toy_dataset().readlx.paired_test("a", "b").faults_differing
1
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from readlx.comparisons import breakdown, divergence, html, plots, ranking, stats, summary
from readlx.comparisons.divergence import DivergentFault
from readlx.fault_maps.faultlist import FaultList


@xr.register_dataset_accessor("readlx")  # type: ignore[no-untyped-call]  # xarray leaves it unannotated
class ReadlxAccessor:
    """Comparisons of a readlx campaign Dataset."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def summary(self) -> list[summary.SummaryRow]:
        """:func:`readlx.comparisons.summary.summarize`."""
        return summary.summarize(self._ds)

    def divergence(self, pairs: Sequence[tuple[str, str]] | None = None) -> xr.Dataset:
        """:func:`readlx.comparisons.divergence.divergence`."""
        return divergence.divergence(self._ds, pairs)

    def sdc1_differences(self, a: str, b: str) -> xr.Dataset:
        """:func:`readlx.comparisons.divergence.sdc1_differences`."""
        return divergence.sdc1_differences(self._ds, a, b)

    def most_divergent(self, top: int = 10, pairs: Sequence[tuple[str, str]] | None = None
                       ) -> list[DivergentFault]:
        """:func:`readlx.comparisons.divergence.most_divergent`."""
        return divergence.most_divergent(self._ds, top, pairs)

    def by_bit(self, site: str | None = None) -> xr.Dataset:
        """:func:`readlx.comparisons.breakdown.by_bit`."""
        return breakdown.by_bit(self._ds, site)

    def by_layer(self, site: str | None = None) -> xr.Dataset:
        """:func:`readlx.comparisons.breakdown.by_layer`."""
        return breakdown.by_layer(self._ds, site)

    def rank(self, by: str = "layer", outcome: str = "critical") -> xr.Dataset:
        """:func:`readlx.comparisons.ranking.rank_layers`."""
        return ranking.rank_layers(self._ds, by, outcome)

    def paired_test(self, a: str, b: str, metric: str = "critical", method: str = "wilcoxon") -> stats.PairedTest:
        """:func:`readlx.comparisons.stats.paired_test`."""
        return stats.paired_test(self._ds, a, b, metric, method)

    def plots(self, directory: str | Path, baseline: str | None = None) -> list[Path]:
        """:func:`readlx.comparisons.plots.report_plots`."""
        return plots.report_plots(self._ds, directory, baseline)

    def html(self, file: str | Path, published: FaultList | None = None, baseline: str | None = None) -> Path:
        """:func:`readlx.comparisons.html.report_html`."""
        return html.report_html(self._ds, file, published, baseline)
