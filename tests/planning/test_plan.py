"""Campaign plans: stratified sample sizes reach their margin, Neyman needs the fewest, the CLI prints them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readlx.cli import main
from readlx.errors import InputError
from readlx.fault_maps.sampling import sample_size, t_value
from readlx.graph import Layer, LayerTable
from readlx.planning.allocation import allocate, stratified_margin
from readlx.planning.plan import make_plan
from readlx.planning.strata import Stratum, bit_group, pilot_shares, population_strata, smoothed_variance

T99 = t_value(0.99)


def _strata(variances: list[float], sizes: list[int]) -> list[Stratum]:
    return [Stratum(f"l{k}", "b", n, {"critical": v}) for k, (v, n) in enumerate(zip(variances, sizes, strict=True))]


def test_worst_case_strata_need_what_the_papers_formula_needs() -> None:
    strata = _strata([0.25] * 8, [10**6 + 7 * k for k in range(8)])
    paper = sample_size(sum(s.size for s in strata), 0.01, t=T99)
    for method in ("proportional", "neyman"):
        n = allocate(strata, "critical", 0.01, T99, method).n
        assert paper <= n <= paper + len(strata)  # only the per-stratum rounding up differs


@pytest.mark.parametrize("seed", range(5))
def test_every_allocation_reaches_its_margin_and_neyman_needs_the_fewest(seed: int) -> None:
    rng = np.random.default_rng(seed)
    strata = _strata(list(rng.uniform(0.0, 0.25, 12) ** 2 * 4), list(rng.integers(10**3, 10**6, 12)))
    proportional = allocate(strata, "critical", 0.01, T99, "proportional")
    neyman = allocate(strata, "critical", 0.01, T99, "neyman")
    for a in (proportional, neyman):
        assert stratified_margin(strata, a.sizes, "critical", T99) <= 0.01 + 1e-12
        assert all(2 <= n <= s.size for n, s in zip(a.sizes, strata, strict=True))
    assert neyman.n <= proportional.n
    # Neyman's sizes follow N_h S_h (up to the rounding up and the minimum of 2)
    weights = np.array([s.size * np.sqrt(s.variance["critical"]) for s in strata])
    big = neyman.sizes[int(weights.argmax())] / weights.max()
    assert np.allclose(np.array(neyman.sizes) / weights, big, rtol=0.02, atol=3 / weights.min())


def test_a_stratified_estimate_lands_within_its_margin_as_often_as_its_confidence_says() -> None:
    """A population of strata with known per-fault shares, sampled as the Neyman allocation says,
    2,000 times: the estimate's error exceeds the 95 % margin in about 5 % of the draws."""
    rng = np.random.default_rng(0)
    means, sizes = [0.01, 0.3, 0.9, 0.5], [40_000, 20_000, 5_000, 1_000]
    values = [np.clip(rng.beta(2, 2 / m - 2, n) if m < 0.5 else rng.random(n) < m, 0, 1).astype(float)
              for m, n in zip(means, sizes, strict=True)]
    strata = [Stratum(f"l{k}", "b", n, {"critical": float(v.var())}) for k, (v, n) in enumerate(zip(values, sizes,
                                                                                                      strict=True))]
    t95 = t_value(0.95)
    alloc = allocate(strata, "critical", 0.01, t95)
    truth = sum(v.sum() for v in values) / sum(sizes)
    misses = 0
    for _ in range(2000):
        estimate = sum(len(v) / sum(sizes) * rng.choice(v, n, replace=False).mean()
                       for v, n in zip(values, alloc.sizes, strict=True))
        misses += abs(estimate - truth) > 0.01
    assert misses / 2000 < 0.075


def test_pilot_shares_shrink_the_strata_variances() -> None:
    table = LayerTable("m", (Layer("conv1", "conv", (16, 3, 3, 3)), Layer("fc", "linear", (10, 64))))
    strata = population_strata(table, ["critical"])
    assert len(strata) == 8 and all(s.variance["critical"] == 0.25 for s in strata)
    assert sum(s.size for s in strata) == (432 + 640) * 32 * 2
    from readlx.fault_maps.fault import Fault

    faults = [Fault("conv1", (0, 0, 0, 0), b) for b in (2, 5, 30, 30)]
    pilot = pilot_shares(faults, {"critical": [0.0, 0.0, 1.0, 0.0]})
    assert pilot[("conv1", "exponent 30")] == [{"critical": 1.0}, {"critical": 0.0}]
    shrunk = {s.key: s.variance["critical"] for s in population_strata(table, ["critical"], pilot=pilot)}
    assert shrunk[("conv1", "mantissa 0-22")] == pytest.approx(0.25 / 3)
    assert shrunk[("conv1", "exponent 30")] == pytest.approx((0.5 + 0.25) / 3)
    assert smoothed_variance([0.0, 1.0] * 500) == pytest.approx(0.25, rel=0.01)
    assert bit_group(23) == "exponent 23-29"
    with pytest.raises(ValueError, match="32"):
        bit_group(32)


def test_bad_plan_arguments_are_named_errors() -> None:
    strata = _strata([0.25], [100])
    with pytest.raises(InputError, match="field 'allocation'.*'optimal'.*proportional, neyman"):
        allocate(strata, "critical", 0.01, T99, "optimal")
    with pytest.raises(InputError, match="field 'margin'.*1.5"):
        allocate(strata, "critical", 1.5, T99)
    plan = make_plan(LayerTable("m", (Layer("fc", "linear", (10, 64)),)), margin=0.05)
    with pytest.raises(InputError, match="no row 'bogus'"):
        plan.row("bogus")


def test_the_cli_plans_from_a_pilot_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = tmp_path / "pilot.nc"
    faults = tmp_path / "f.csv"
    assert main(["faults", "generate", "democnn-synthetic10", "--mode", "network-wise", "--margin", "0.2",
                 "-o", str(faults)]) == 0
    assert main(["run", "democnn-synthetic10", "--faults", str(faults), "--images", "16", "--frameworks", "torch",
                 "-o", str(result)]) == 0
    capsys.readouterr()
    assert main(["plan", "democnn-synthetic10", "--margin", "0.02"]) == 0
    worst = capsys.readouterr().out
    assert "paper formula (p = 0.5)" in worst and "stratified, neyman" in worst
    assert main(["plan", "democnn-synthetic10", "--margin", "0.02", "--pilot", str(result), "--faults", str(faults),
                 "--images", "16", "--probe", "2", "--probe-images", "16"]) == 0
    out = capsys.readouterr().out
    assert f"pilot: {result}" in out and "time on this machine (torch" in out
    formula = int(out.split("paper formula (p = 0.5)")[1].split()[2].replace(",", ""))
    neyman = int(out.split("stratified, neyman")[1].split()[2].replace(",", ""))
    assert neyman < formula  # the pilot's strata vary less than the worst case
    assert main(["plan", "democnn-synthetic10", "--pilot", "published"]) == 2
    assert "argument 'pilot'" in capsys.readouterr().err


def test_the_published_resnet20_plan(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "resnet20-cifar10", "--margin", "0.01", "--pilot", "published"]) == 0
    out = capsys.readouterr().out
    assert "population 17,173,504" in out and "16,625" in out
    neyman = int(out.split("stratified, neyman")[1].split()[2].replace(",", ""))
    assert neyman < 16_625 * 0.6
