"""One self-contained HTML page per campaign: tables, agreement, tests, figures and provenance.

The page has no external reference: figures are embedded as base64 PNG ``data:`` URIs and the style
sheet is inline, so the file can be mailed or archived on its own. A table column with no value for
the campaign at hand is left out, and attributes are shown under human labels
(:mod:`readlx.comparisons.provenance_rows`).
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path

import xarray as xr
from matplotlib.figure import Figure

from readlx.comparisons.breakdown import bits_label
from readlx.comparisons.divergence import most_divergent
from readlx.comparisons.plots import ReportFigure, report_figures
from readlx.comparisons.provenance_rows import Row, provenance
from readlx.comparisons.published import agreement
from readlx.comparisons.summary import summarize, summary_table
from readlx.comparisons.tables import contingency_table, paired_tests_table
from readlx.fault_maps.faultlist import FaultList

EMBED_DPI = 130
DISPLAY_PX_PER_INCH = 110
MIN_DISPLAY_PX = 1000
_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1500px;padding:0 1.5em;line-height:1.4}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #bbb;padding:3px 8px}
th{background:#eee;text-align:left}td{text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{font-weight:normal;width:18em}table.kv td{white-space:pre-line}
th.section{background:#dde4ee;font-weight:bold}
figure{margin:1em 0 2.5em}figure img{max-width:100%;height:auto;display:block}
figcaption{color:#333;max-width:70em;margin-top:0.4em}details{margin:0.5em 0 1.5em}
td.long{word-break:break-all;font-family:monospace;font-size:90%}"""
_HUMAN = {"non_critical": "non-critical", "nan_or_inf": "NaN/Inf"}


_NUMBER = re.compile(r"[+-]?\d[\d.]*(e[+-]?\d+)?( ± \d[\d.]*)?")


def _cell(value: object) -> str:
    text = str(value)
    return html.escape(_HUMAN.get(text, text))


def _td(value: object) -> str:
    numeric = _NUMBER.fullmatch(str(value).strip()) is not None
    return f'<td class="n">{_cell(value)}</td>' if numeric else f"<td>{_cell(value)}</td>"


def html_table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An escaped HTML table; a column whose cells are all empty is left out.

    >>> html_table(("a", "b"), [("<b>", "")])
    '<table><tr><th>a</th></tr>\\n<tr><td>&lt;b&gt;</td></tr></table>'
    """
    keep = [j for j in range(len(head)) if not rows or any(str(row[j]) != "" for row in rows)]
    header = "<tr>" + "".join(f"<th>{_cell(head[j])}</th>" for j in keep) + "</tr>"
    body = ["<tr>" + "".join(_td(row[j]) for j in keep) + "</tr>" for row in rows]
    return "<table>" + "\n".join([header, *body]) + "</table>"


def kv_table(sections: Sequence[tuple[str, Sequence[Row]]]) -> str:
    """Label / value rows, each section under a heading row spanning both columns (no empty header).

    >>> print(kv_table([("Model", [("model", "net")])]))
    <table class="kv"><tr><th class="section" colspan="2">Model</th></tr>
    <tr><th scope="row">model</th><td>net</td></tr></table>
    """
    lines = []
    for title, rows in sections:
        if title:
            lines.append(f'<tr><th class="section" colspan="2">{html.escape(title)}</th></tr>')
        for label, value in rows:
            long = ' class="long"' if len(value) > 60 and " " not in value else ""
            lines.append(f'<tr><th scope="row">{html.escape(label)}</th><td{long}>{html.escape(value)}</td></tr>')
    return '<table class="kv">' + "\n".join(lines) + "</table>"


def png_data_uri(fig: Figure, dpi: int = EMBED_DPI) -> str:
    """A figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _overview(ds: xr.Dataset) -> str:
    rows = [("model", str(ds.attrs.get("model_name", ds.model.values[0]))),
            ("runtimes", ", ".join(str(f) for f in ds.framework.values)), ("faults", str(ds.sizes["fault"])),
            ("images per fault", str(ds.attrs["n_images"]))]
    rows += [(label, str(ds.attrs[key])) for key, label in (("dataset", "data set"), ("date_created", "created"))
             if key in ds.attrs]
    return kv_table([("", rows)]) + "<p>Full provenance at the end of the page.</p>"


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
        largest += [(a.framework, d.fault, d.layer, str(d.index), bits_label(d.bits or (d.bit,)), str(d.ours),
                     str(d.published))
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
    rows = [(d.fault, d.where, str(d.index), d.bits_text, f"{d.framework_a} vs {d.framework_b}",
             "/".join(map(str, d.counts_a)), "/".join(map(str, d.counts_b)), d.score)
            for d in most_divergent(ds, top=15)]
    if not rows:
        return "<h2>Most divergent faults</h2><p>No fault is classified differently by any pair.</p>"
    head = ("fault", "layer", "index", "bit", "pair", "a m/nc/c", "b m/nc/c",
            "images differing" if "outcome" in ds else "images moved (lower bound)")
    return "<h2>Most divergent faults</h2>" + html_table(head, rows)


def _figure(stem: str, item: ReportFigure) -> str:
    width = max(MIN_DISPLAY_PX, round(item.figure.get_figwidth() * DISPLAY_PX_PER_INCH))
    return (f'<figure id="{html.escape(stem)}"><h3>{html.escape(item.heading)}</h3>'
            f'<img alt="{html.escape(item.heading)}" style="width:{width}px" src="{png_data_uri(item.figure)}">'
            f"<figcaption>{html.escape(item.caption)}</figcaption></figure>")


def _provenance(ds: xr.Dataset) -> str:
    sections, details = provenance(ds)
    parts = ["<h2>Provenance</h2>", kv_table(sections)]
    if details:
        parts.append("<details><summary>Runner details</summary>" + kv_table([("", details)]) + "</details>")
    return "".join(parts)


def report_html(ds: xr.Dataset, file: str | Path, published: FaultList | None = None,
                baseline: str | None = None) -> Path:
    """Write the self-contained HTML report of a campaign Dataset; return its path.

    ``baseline`` is the runtime the difference figures subtract (``torch`` when present by default).

    Examples
    --------
    >>> import tempfile
    >>> from readlx.comparisons.examples import toy_dataset
    >>> with tempfile.TemporaryDirectory() as d:
    ...     text = report_html(toy_dataset(), Path(d, "r.html")).read_text()
    >>> "<h2>Paired tests per fault</h2>" in text, "<h2>Provenance</h2>" in text, "http" in text
    (True, True, False)
    """
    title = f"readlx report: {ds.attrs.get('model_name', str(ds.model.values[0]))}"
    body = [f"<h1>{html.escape(title)}</h1>", _overview(ds), _summary(ds)]
    if published is not None:
        body.append(_agreement(ds, published))
    if ds.sizes["framework"] > 1:
        body += [_tests(ds), _divergent(ds)]
    body.append("<h2>Figures</h2>")
    body += [_figure(stem, item) for stem, item in report_figures(ds, baseline).items()]
    body.append(_provenance(ds))
    page = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = Path(file)
    path.write_text(page, encoding="utf-8")
    return path
