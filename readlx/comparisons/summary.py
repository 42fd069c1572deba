"""The Table-VI-style summary of a campaign: outcome shares per model and framework."""
from __future__ import annotations

import math
from dataclasses import dataclass

import xarray as xr

from readlx._typing import Array
from readlx.fault_maps.sampling import margin_of_error

DEFAULT_T = 2.58


@dataclass(frozen=True)
class Share:
    """A share in percent with its error margin in percentage points (None when not defined)."""

    percent: float
    margin: float | None

    def format(self) -> str:
        if self.margin is None:
            return f"{self.percent:7.3f}"
        return f"{self.percent:7.3f} ± {self.margin:.3f}"


@dataclass(frozen=True)
class SummaryRow:
    model: str
    framework: str
    n_faults: int
    n_images: int
    golden_top1: Share
    masked: Share
    non_critical: Share
    critical: Share
    nan_or_inf: Share
    faulty_top1: Share
    task: str = "classification"
    golden_miou: float | None = None
    faulty_miou: float | None = None


def _share(values: Array, n_images: int, population: int | None, t: float) -> Share:
    """Pooled share over all inferences; the margin treats faults as the sampled units."""
    n = len(values)
    p_hat = float(values.sum()) / (n * n_images) if n else float("nan")
    if not n:
        margin = None
    elif population is None:  # no finite population correction without a recorded population
        margin = t * math.sqrt(p_hat * (1 - p_hat) / n)
    else:
        margin = float(margin_of_error(p_hat, n, population, t))
    return Share(100 * p_hat, None if margin is None else 100 * margin)


def summarize(ds: xr.Dataset) -> list[SummaryRow]:
    """One row per (model, framework).

    The error margin of each share is that of the fault sample (Leveugle et al.):
    ``t * sqrt(p(1-p)/n * (N-n)/(N-1))`` with n faults drawn from a population of N (no finite
    population correction when the population is not recorded), t from the attrs (2.58 by default).

    Examples
    --------
    >>> from readlx.comparisons.examples import toy_dataset
    >>> rows = summarize(toy_dataset())
    >>> [(r.framework, r.n_faults, r.n_images) for r in rows]
    [('a', 2, 2), ('b', 2, 2)]
    """
    n_images = int(ds.attrs["n_images"])
    population = ds.attrs.get("sampling_population")
    population = int(population) if population is not None else None
    t = float(ds.attrs.get("sampling_t", DEFAULT_T))
    rows = []
    for model in ds.model.values:
        for fw in ds.framework.values:
            sel = ds.sel(model=model, framework=fw)
            masked, non_critical, critical, nan_or_inf = (
                _share(sel[v].values, n_images, population, t)
                for v in ("masked", "non_critical", "critical", "nan_or_inf")
            )
            shares = (masked, non_critical, critical, nan_or_inf)
            if "golden_pixel_accuracy" in sel:  # segmentation: accuracy is per pixel
                rows.append(SummaryRow(
                    str(model), str(fw), int(sel.sizes["fault"]), n_images,
                    Share(100 * float(sel.golden_pixel_accuracy), None), *shares,
                    Share(100 * float(sel.faulty_pixel_accuracy.mean()), None), "segmentation",
                    float(sel.golden_miou), float(sel.faulty_miou.mean())))
                continue
            rows.append(SummaryRow(
                str(model), str(fw), int(sel.sizes["fault"]), n_images,
                Share(100 * float(sel.golden_correct) / n_images, None), *shares,
                _share(sel.faulty_correct.values, n_images, population, t)))
    return rows


def summary_table(rows: list[SummaryRow]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and cells of the summary; segmentation rows name their own columns."""
    segmentation = any(r.task == "segmentation" for r in rows)
    head: tuple[str, ...]
    if segmentation:
        head = ("model", "framework", "faults", "images", "golden pixel acc. %", "masked %", "tolerable %",
                "critical %", "NaN/Inf %", "faulty pixel acc. % (mean)", "golden mIoU", "faulty mIoU (mean)")
    else:
        head = ("model", "framework", "faults", "images", "golden top-1 %", "masked %", "non-critical %",
                "SDC-1 %", "NaN/Inf %", "faulty top-1 %")
    body: list[tuple[str, ...]] = []
    for r in rows:
        cells: tuple[str, ...] = (
            r.model, r.framework, str(r.n_faults), str(r.n_images), r.golden_top1.format(), r.masked.format(),
            r.non_critical.format(), r.critical.format(), r.nan_or_inf.format(), r.faulty_top1.format())
        if segmentation:
            cells += tuple("" if v is None else f"{v:.4f}" for v in (r.golden_miou, r.faulty_miou))
        body.append(cells)
    return head, body


def format_summary(rows: list[SummaryRow]) -> str:
    """A plain-text table (percent ± margin in percentage points)."""
    head, body = summary_table(rows)
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)) for line in (head, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
