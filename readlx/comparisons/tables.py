"""Cross-framework tables shared by the text and the HTML report: paired tests and image contingency."""
from __future__ import annotations

import numpy as np
import xarray as xr

from readlx.comparisons.divergence import divergence, framework_pairs
from readlx.comparisons.stats import paired_test
from readlx.outcomes.classification import OUTCOME_NAMES

Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


def paired_tests_table(ds: xr.Dataset, metrics: tuple[str, ...] = ("critical", "masked")) -> Table:
    """Per pair of runtimes and metric: faults differing, mean difference, Wilcoxon p and McNemar.

    >>> from readlx.comparisons.examples import toy_dataset
    >>> head, rows = paired_tests_table(toy_dataset())
    >>> rows[0][:3]
    ('b vs a', 'critical', '1')
    """
    rows: list[tuple[str, ...]] = []
    for a, b in framework_pairs(ds):
        for metric in metrics:
            t = paired_test(ds, a, b, metric)
            mc = ""
            if metric == "critical" and t.image_level is not None and t.discordant is not None:
                mc = f"{t.discordant[0]} / {t.discordant[1]}, p = {t.image_level.p_value:.3g}"
            rows.append((f"{b} vs {a}", metric, str(t.faults_differing), f"{t.mean_difference:+.4f}",
                         t.test.method, f"{t.test.p_value:.3g}", mc))
    head = ("pair", "metric", "faults differing", "mean diff (pp)", "test", "p", "McNemar critical a-only / b-only")
    return head, rows


def contingency_table(ds: xr.Dataset, model: int = 0) -> Table:
    """Per pair: inferences by (class in a, class in b), summed over faults (needs per-image outcomes).

    >>> from readlx.comparisons.examples import toy_dataset
    >>> head, rows = contingency_table(toy_dataset())
    >>> head[:3], len(rows)
    (('pair', 'a \\\\ b', 'masked'), 3)
    """
    if "outcome" not in ds:
        return (), []
    dv = divergence(ds).isel(model=model)
    names = ds.attrs.get("outcome_names", " ".join(OUTCOME_NAMES)).split()
    rows = []
    for p, pair in enumerate(dv.pair.values):
        total = dv.contingency.isel(pair=p).sum("fault").values
        for i, name in enumerate(names):
            rows.append((str(pair) if i == 0 else "", name, *(str(int(v)) for v in total[i]),
                         f"{100 * float(np.trace(total)) / max(1, int(total.sum())):.3f}" if i == 0 else ""))
    return ("pair", "a \\ b", *names, "agreement %"), rows
