"""One self-contained HTML page per campaign: tables, agreement, tests and figures.

The page has no external reference: figures are embedded as base64 PNG ``data:`` URIs and the style
sheet is inline, so the file can be mailed or archived on its own.
"""
from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from readlx.comparisons.divergence import most_divergent
from readlx.comparisons.plots import report_figures
from readlx.comparisons.published import agreement
from readlx.comparisons.summary import summarize, summary_table
from readlx.comparisons.tables import contingency_table, paired_tests_table
from readlx.fault_maps.faultlist import FaultList

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:80em}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #bbb;padding:2px 6px;font-size:90%}
th{background:#eee}td{text-align:right}td:first-child{text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:0.5em}"""


def html_table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An escaped HTML table.

    >>> html_table(("a",), [("<b>",)])
    '<table><tr><th>a</th></tr>\\n<tr><td>&lt;b&gt;</td></tr></table>'
    """
    header = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in head) + "</tr>"
    body = ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows]
    return "<table>" + "\n".join([header, *body]) + "</table>"


def png_data_uri(fig: Figure) -> str:
    """A figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _summary(ds: xr.Dataset) -> str:
    head, rows = summary_table(summarize(ds))
    return "<h2>Outcome shares (percent ± margin of the fault sample)</h2>" + html_table(head, rows)


def _agreement(ds: xr.Dataset, published: FaultList) -> str:
    parts = [f"<h2>Agreement with the published counts ({html.escape(str(published.source))})</h2>"]
    rows = []
    largest = []
    for a in agreement(ds, published):
        rows.append((a.framework, a.n_faults, f"{100 * a.sdc1_exact:.1f}", f"{100 * a.triple_exact:.1f}",
                     " / ".join(f"{d:.2f}" for d in a.mean_abs_diff)))
        largest += [(a.framework, d.fault, d.layer, str(d.index), d.bit, str(d.ours), str(d.published))
                    for d in a.largest]
    parts.append(html_table(("framework", "faults", "SDC-1 exact %", "triple exact %", "mean |diff| m / nc / c"), rows))
    if largest:
        parts.append("<h3>Largest differences</h3>")
        parts.append(html_table(("framework", "fault", "layer", "index", "bit", "ours m/nc/c", "published m/nc/c"),
                                largest))
    return "".join(parts)


def _tests(ds: xr.Dataset) -> str:
    head, rows = paired_tests_table(ds)
    parts = ["<h2>Paired tests per fault</h2>", html_table(head, rows)]
    head, rows = contingency_table(ds)
    if rows:
        parts += ["<h2>Image-level contingency (inferences, all faults)</h2>", html_table(head, rows)]
    return "".join(parts)


def _divergent(ds: xr.Dataset) -> str:
    rows = [(d.fault, d.layer, str(d.index), d.bit, f"{d.framework_a} vs {d.framework_b}",
             "/".join(map(str, d.counts_a)), "/".join(map(str, d.counts_b)), d.score)
            for d in most_divergent(ds, top=15)]
    if not rows:
        return "<h2>Most divergent faults</h2><p>No fault is classified differently by any pair.</p>"
    head = ("fault", "layer", "index", "bit", "pair", "a m/nc/c", "b m/nc/c",
            "images differing" if "outcome" in ds else "images moved (lower bound)")
    return "<h2>Most divergent faults</h2>" + html_table(head, rows)


def report_html(ds: xr.Dataset, file: str | Path, published: FaultList | None = None) -> Path:
    """Write the self-contained HTML report of a campaign Dataset; return its path.

    Examples
    --------
    >>> import tempfile
    >>> from readlx.comparisons.examples import toy_dataset
    >>> with tempfile.TemporaryDirectory() as d:
    ...     text = report_html(toy_dataset(), Path(d, "r.html")).read_text()
    >>> "<h2>Paired tests per fault</h2>" in text, "http" in text
    (True, False)
    """
    title = f"readlx report: {ds.attrs.get('model_name', str(ds.model.values[0]))}"
    meta = [("frameworks", ", ".join(str(f) for f in ds.framework.values)), ("faults", ds.sizes["fault"]),
            ("images per fault", ds.attrs["n_images"])]
    meta += [(k, ds.attrs[k]) for k in ("dataset", "readlx_version", "sampling_population", "sampling_t")
             if k in ds.attrs]
    body = [f"<h1>{html.escape(title)}</h1>", html_table(("", ""), meta), _summary(ds)]
    if published is not None:
        body.append(_agreement(ds, published))
    if ds.sizes["framework"] > 1:
        body += [_tests(ds), _divergent(ds)]
    body.append("<h2>Figures</h2>")
    body += [f'<h3>{html.escape(stem.replace("_", " "))}</h3><img alt="{html.escape(stem)}" src="{png_data_uri(fig)}">'
             for stem, fig in report_figures(ds).items()]
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = Path(file)
    path.write_text(page, encoding="utf-8")
    return path
