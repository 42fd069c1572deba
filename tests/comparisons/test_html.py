from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np

from readlx.comparisons.html import html_table, kv_table, report_html
from readlx.comparisons.provenance_rows import provenance
from readlx.fault_maps.fault import Fault
from readlx.fault_maps.faultlist import FaultList

N_FIGURES = 7


def test_report_is_self_contained(three_runtimes, tmp_path: Path) -> None:
    text = report_html(three_runtimes, tmp_path / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "href=" not in text.lower()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == N_FIGURES
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert not re.search(r"(?i)(url\(|@import|<link|<script)", text)
    for heading in ("Outcome shares", "Paired tests per fault", "Most divergent faults", "Figures", "Provenance"):
        assert heading in text
    assert text.count("<figcaption>") == N_FIGURES and "Wilson" in text and "paired Student-t" in text


def test_figures_are_shown_large(three_runtimes, tmp_path: Path) -> None:
    text = report_html(three_runtimes, tmp_path / "report.html").read_text(encoding="utf-8")
    widths = [int(w) for w in re.findall(r'<img alt="[^"]*" style="width:(\d+)px"', text)]
    assert len(widths) == N_FIGURES and min(widths) >= 1000


def test_no_empty_header_row_and_no_raw_attribute_names(three_runtimes, tmp_path: Path) -> None:
    three_runtimes.attrs.update(readlx_version="9.9", sampling_seed=7, dataset="cifar10")
    text = report_html(three_runtimes, tmp_path / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<tr>(<th>\s*</th>)+</tr>", text)
    assert "readlx_version" not in text and "<th scope=\"row\">readlx version</th><td>9.9</td>" in text
    assert "non_critical" not in text  # outcome names in the contingency table are spelled out


def test_a_column_without_values_is_left_out(make_ds, tmp_path: Path) -> None:
    counts_only = make_ds(np.array([[[0, 0, 1, 2], [0, 1, 1, 2]]]), ["x", "y"], per_image=False)
    text = report_html(counts_only, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "McNemar" not in text and "Paired tests per fault" in text
    per_image = make_ds(np.array([[[0, 0, 1, 2], [0, 1, 1, 2]]]), ["x", "y"])
    assert "McNemar" in report_html(per_image, tmp_path / "s.html").read_text(encoding="utf-8")


def test_provenance_labels_known_attributes_and_keeps_new_ones(three_runtimes, tmp_path: Path) -> None:
    three_runtimes.attrs.update(
        model_name="net", hardware_platform="GPU", framework="PyTorch", skip_noop=1, sampling_margin=0.01,
        engines='{"a": {"framework": "a", "threads": 2, "version": "1.0"}}', mode_a="fast",
        mode_a_detail='{"block_faults": 128}', run_cpu_model="Some CPU @ 2 GHz", history="line one\nline two")
    sections, details = provenance(three_runtimes)
    rows = {title: dict(r) for title, r in sections}
    assert rows["Runtimes"]["runtime a"] == "mode: fast; threads: 2; version: 1.0"
    assert rows["Faults"]["error margin of the list"] == "1 %"
    assert rows["Faults"]["no-op stuck-at faults"] == "masked without inference"
    assert rows["Faults"]["faults run"] == "6 (bit-flip)"
    assert rows["Benchmark card (the published model, not this run)"]["platform of the published campaign"] == "GPU"
    assert rows["Other attributes"]["run cpu model"] == "Some CPU @ 2 GHz"
    assert details == [("mode a detail", "block faults: 128")]
    text = report_html(three_runtimes, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<details><summary>Runner details</summary>" in text and "mode_a_detail" not in text


def test_report_with_reference_shows_agreement(make_ds, tmp_path: Path) -> None:
    outcome = np.array([[[0, 0, 1, 2], [0, 1, 1, 2]], [[2, 2, 2, 2], [2, 2, 2, 2]]])
    ds = make_ds(outcome, ["x", "y"], bits=[3, 30], ids=[7, 8])
    reference = FaultList.from_faults("synthetic", (Fault("conv1", (i, 0, 0, 0), b) for i, b in enumerate((3, 30))),
                                      ids=(7, 8), published=[[4, 2, 1, 1], [4, 0, 0, 4]], source="published.csv")
    text = report_html(ds, tmp_path / "r.html", reference).read_text(encoding="utf-8")
    assert "Agreement with the published counts (published.csv)" in text
    assert '<td>x</td><td class="n">2</td><td class="n">100.0</td><td class="n">100.0</td>' in text
    assert '<td>y</td><td class="n">2</td><td class="n">100.0</td><td class="n">50.0</td>' in text


def test_tables_escape_their_cells() -> None:
    assert "&lt;script&gt;" in html_table(("a",), [("<script>",)])
    assert "&lt;b&gt;" in kv_table([("<i>", [("<b>", "1")])]) and "&lt;i&gt;" in kv_table([("<i>", [])])


def test_numbers_are_right_aligned_and_text_is_not() -> None:
    table = html_table(("pair", "p", "share"), [("a vs b", "0.05", "21.883 ± 13.771")])
    assert '<td>a vs b</td><td class="n">0.05</td><td class="n">21.883 ± 13.771</td>' in table
