"""Which numerical variant, layer by layer, best reproduces published per-fault outcome counts.

Input: a campaign Dataset whose frameworks are variants of one model (``torch``,
``reference-im2col-tf32``, ...) run over the same images as the published counts, and the published
fault list. For each canonical layer, every variant's per-fault agreement with the published
(masked, non-critical, critical) counts is measured with :func:`readlx.comparisons.published.agreement`;
the best variant of a layer has the highest full-triple exact rate, then SDC-1 exact rate, then the
lowest mean absolute difference. "Before" is the baseline variant on every fault; "after" takes each
fault's counts from the best variant of its layer (chosen on these same faults, so it is an
in-sample figure: a per-layer plan should be confirmed by running it as a variant of its own).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from readlx.comparisons.published import Agreement, agreement
from readlx.comparisons.text import table
from readlx.errors import ReadlxError
from readlx.fault_maps.faultlist import FaultList
from readlx.results import COUNT_VARS

EMULATED = "per-layer best"


@dataclass(frozen=True)
class LayerChoice:
    """The variants' agreement on one layer's faults and the best of them."""

    layer: str
    n_faults: int
    best: str
    scores: dict[str, Agreement]


@dataclass(frozen=True)
class Explanation:
    """Per-layer choices, and the agreement before (baseline) and after (per-layer best)."""

    baseline: str
    layers: tuple[LayerChoice, ...]
    overall: tuple[Agreement, ...]
    before: Agreement
    after: Agreement

    def plan(self) -> dict[str, str]:
        """Layer -> best variant."""
        return {c.layer: c.best for c in self.layers}

    def format(self) -> str:
        def rates(a: Agreement) -> tuple[str, str, str]:
            return (f"{100 * a.sdc1_exact:.1f}", f"{100 * a.triple_exact:.1f}",
                    " / ".join(f"{d:.1f}" for d in a.mean_abs_diff))

        head = ("layer", "faults", "best variant", "SDC-1 exact %", "triple exact %", "mean |diff| m/nc/c",
                f"{self.baseline} triple %")
        body = [(c.layer, str(c.n_faults), c.best, *rates(c.scores[c.best]),
                 f"{100 * c.scores[self.baseline].triple_exact:.1f}") for c in self.layers]
        overall = [(a.framework, str(a.n_faults), *rates(a)) for a in self.overall]
        return "\n".join([
            "per-layer agreement with the published counts:", table(head, body), "",
            "each variant on all faults:",
            table(("variant", "faults", "SDC-1 exact %", "triple exact %", "mean |diff| m/nc/c"), overall), "",
            f"before emulation ({self.baseline}): SDC-1 exact {100 * self.before.sdc1_exact:.1f} %, "
            f"triple exact {100 * self.before.triple_exact:.1f} %",
            f"after emulation (per-layer best, chosen in-sample): SDC-1 exact {100 * self.after.sdc1_exact:.1f} %, "
            f"triple exact {100 * self.after.triple_exact:.1f} %",
        ])


def _key(a: Agreement) -> tuple[float, float, float]:
    return (a.triple_exact, a.sdc1_exact, -sum(a.mean_abs_diff))


def _best(scores: dict[str, Agreement], baseline: str) -> str:
    # the baseline wins ties: a variant must do strictly better to be the explanation
    best = baseline
    for name, a in scores.items():
        if _key(a) > _key(scores[best]):
            best = name
    return best


def _layers_in_order(ds: xr.Dataset) -> list[str]:
    return list(dict.fromkeys(str(v) for v in ds.layer.values))


def _emulated(ds: xr.Dataset, choice: dict[str, str]) -> xr.Dataset:
    """One-framework Dataset whose counts for each fault come from its layer's chosen variant."""
    frameworks = [str(f) for f in ds.framework.values]
    pick = np.array([frameworks.index(choice[str(layer)]) for layer in ds.layer.values])
    extra = [v for v in ds.data_vars if v not in COUNT_VARS]
    out = ds.drop_vars(extra).isel(framework=[0]).copy(deep=True)
    for var in COUNT_VARS:
        out[var].values[0, :, 0] = ds[var].values[0, np.arange(ds.sizes["fault"]), pick]
    return out.assign_coords(framework=np.array([EMULATED], dtype=object))


def explain(ds: xr.Dataset, published: FaultList, baseline: str | None = None) -> Explanation:
    """Per layer, the variant of ``ds`` that best reproduces the published counts of ``published``.

    Parameters
    ----------
    ds
        Single-model campaign Dataset, one framework per variant, over as many images as the
        published counts (their ``n_injections``).
    published
        The published fault list, whose entries carry their counts (``FaultEntry.published``).
    baseline
        The "before" variant (default: the first framework).

    Examples
    --------
    >>> from readlx.fault_maps.fault import Fault
    >>> from readlx.results import make_dataset
    >>> faults = FaultList.from_faults("m", (Fault("a", (0, 0), 1), Fault("b", (0, 0), 2)),
    ...                                published=[[10, 10, 0, 0], [10, 5, 5, 0]])
    >>> from readlx.outcomes.records import FaultRecords, GoldenRecord
    >>> def codes(*masked):  # masked images per fault, the other ones of 10 non-critical
    ...     return np.array([[0] * m + [1] * (10 - m) for m in masked], np.int8)
    >>> records = {"f32": FaultRecords.from_codes(codes(8, 5)), "tf32": FaultRecords.from_codes(codes(10, 9))}
    >>> golden = {fw: GoldenRecord(0, np.zeros(0), np.zeros(10, int)) for fw in records}
    >>> ds = make_dataset(model="m", faults=faults, layer_names={"f32": ["a", "b"], "tf32": ["a", "b"]},
    ...                   records=records, golden=golden, labels=np.zeros(10, int))
    >>> e = explain(ds, faults)
    >>> e.plan(), e.before.triple_exact, e.after.triple_exact
    ({'a': 'tf32', 'b': 'f32'}, 0.5, 1.0)
    """
    if ds.sizes["model"] != 1:
        raise ReadlxError(f"explain works on one model at a time, got {ds.sizes['model']}")
    frameworks = [str(f) for f in ds.framework.values]
    baseline = baseline or frameworks[0]
    if baseline not in frameworks:
        raise ReadlxError(f"baseline {baseline!r} is not a framework of the result; valid: {', '.join(frameworks)}")
    overall = tuple(agreement(ds, published, top=0))
    layers = []
    for layer in _layers_in_order(ds):
        sub = ds.isel(fault=np.flatnonzero(ds.layer.values == layer))
        scores = {a.framework: a for a in agreement(sub, published, top=0)}
        layers.append(LayerChoice(layer, int(sub.sizes["fault"]), _best(scores, baseline), scores))
    choice = {c.layer: c.best for c in layers}
    after = agreement(_emulated(ds, choice), published, top=0)[0]
    before = next(a for a in overall if a.framework == baseline)
    return Explanation(baseline, tuple(layers), overall, before, after)
