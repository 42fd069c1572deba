from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from readlx.comparisons.html import html_table, report_html
from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList


def test_report_is_self_contained(three_runtimes, tmp_path: Path) -> None:
    text = report_html(three_runtimes, tmp_path / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "href=" not in text.lower()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 5
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert not re.search(r"(?i)(url\(|@import|<link|<script)", text)
    for heading in ("Outcome shares", "Paired tests per fault", "Most divergent faults", "Figures"):
        assert heading in text


def test_report_with_reference_shows_agreement(make_ds, tmp_path: Path) -> None:
    outcome = np.array([[[0, 0, 1, 2], [0, 1, 1, 2]], [[2, 2, 2, 2], [2, 2, 2, 2]]])
    ds = make_ds(outcome, ["x", "y"], bits=[3, 30], ids=[7, 8])
    reference = FaultList.from_faults("synthetic", (Fault("conv1", (i, 0, 0, 0), b) for i, b in enumerate((3, 30))),
                                      ids=(7, 8), published=[[4, 2, 1, 1], [4, 0, 0, 4]], source="published.csv")
    text = report_html(ds, tmp_path / "r.html", reference).read_text(encoding="utf-8")
    assert "Agreement with the published counts (published.csv)" in text
    assert "<td>x</td><td>2</td><td>100.0</td><td>100.0</td>" in text
    assert "<td>y</td><td>2</td><td>100.0</td><td>50.0</td>" in text


def test_tables_escape_their_cells() -> None:
    assert "&lt;script&gt;" in html_table(("a",), [("<script>",)])
