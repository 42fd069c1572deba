"""Sequential paired differences of two runtimes: valid intervals, verdicts, the CLI."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.cli import main
from readlx.errors import ArgumentError
from readlx.planning.paired import PairTarget, difference_interval
from readlx.planning.sequential import look_sizes


def test_the_difference_interval_covers_rare_disagreements() -> None:
    """A population where the runtimes disagree on 2 % of the faults, by up to 30 points either way:
    1,000 sequential campaigns (8 doubling looks) stop with an interval covering the true mean
    difference in at least 99 % of them."""
    rng = np.random.default_rng(1)
    diffs = np.zeros(20_000)
    rare = rng.choice(20_000, 400, replace=False)
    diffs[rare] = rng.uniform(-0.1, 0.3, 400)
    truth = diffs.mean()
    level = 1 - 0.01 / 8
    covered, used = 0, []
    for _ in range(1000):
        order = rng.permutation(diffs)
        for n in look_sizes(len(diffs), 8):
            mean, low, high = difference_interval(order[:n], level)
            if low > 0 or high < 0 or max(-low, high) <= 0.01:
                break
        covered += low <= truth <= high
        used.append(n)
    assert covered >= 990
    assert np.mean(used) < 20_000 / 3


def _pair(a: np.ndarray, b: np.ndarray, n_images: int = 100) -> xr.Dataset:
    counts = np.stack([a, b], axis=-1)[None]  # model, fault, framework
    data = {o: (("model", "fault", "framework"), counts) for o in ("masked", "non_critical", "critical", "nan_or_inf")}
    return xr.Dataset(data, coords={"framework": ["a", "b"]}, attrs={"n_images": n_images})


def test_verdicts_say_agree_differ_or_undecided() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 100, 2000)
    target = PairTarget("a", "b", delta=0.01, looks=8)
    assert {d.verdict for d in target.differences(_pair(a, a))} == {"agree"}
    assert {d.verdict for d in target.differences(_pair(a, np.minimum(a + 20, 100)))} == {"differ"}
    assert {d.verdict for d in target.differences(_pair(a[:20], a[:20]))} == {None}  # 20 faults decide nothing
    met, record = target.look_dataset(_pair(a, a), None)
    assert met and json.loads(record["until_differences"])["critical"][3] == "agree"
    with pytest.raises(ArgumentError, match="argument 'delta'"):
        PairTarget("a", "a")
    with pytest.raises(ArgumentError, match="argument 'delta'"):
        PairTarget("a", "b", delta=0.0)


def test_the_cli_decides_a_pair_with_fewer_faults_than_the_list(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    faults = tmp_path / "f.csv"
    assert main(["faults", "generate", "democnn-synthetic10", "--mode", "network-wise", "--margin", "0.05",
                 "-o", str(faults)]) == 0
    out = tmp_path / "d.nc"
    assert main(["diff", "democnn-synthetic10", "--frameworks", "torch,onnxruntime", "--faults", str(faults),
                 "--images", "32", "--delta", "5", "--looks", "4", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime - torch:" in text and "inferences against" in text and "critical" in text
    assert out.is_file()
    assert main(["diff", "democnn-synthetic10", "--frameworks", "torch", "-o", str(tmp_path / "x.nc")]) == 2
    assert "two runtimes" in capsys.readouterr().err


def test_paired_faults_reach_the_margin_on_samples_of_that_size() -> None:
    """Sized from a pilot's differences, campaigns of that many faults drawn from the same population
    land within the margin in about half the draws or more (the size is for the pilot's mean parts),
    and a tenth fewer faults do not reach it at those parts."""
    from readlx.planning.paired import paired_faults, parts_interval

    rng = np.random.default_rng(3)
    population = np.zeros(16_000)
    rare = rng.choice(16_000, 1_600, replace=False)
    population[rare] = rng.uniform(-0.02, 0.05, 1_600)
    n = paired_faults(population, 0.005, 0.99, len(population))
    assert 100 < n < len(population)
    up, down = np.maximum(population, 0).mean(), np.maximum(-population, 0).mean()
    low, high = parts_interval(up * (n - n // 10), down * (n - n // 10), n - n // 10, 0.99)
    assert (high - low) / 2 > 0.005
    widths = [np.ptp(difference_interval(rng.choice(population, n), 0.99)[1:]) / 2 for _ in range(200)]
    assert np.mean(np.array(widths) <= 0.005 * 1.05) >= 0.4
    assert paired_faults(np.zeros(100), 0.005, 0.99, 16_000) < n  # no disagreement needs fewer
    assert paired_faults(np.full(100, 0.5), 1e-4, 0.99, 500) == 500  # never narrow enough: the whole list


def test_the_cli_plans_a_paired_campaign_from_a_two_runtime_pilot(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    faults, result = tmp_path / "f.csv", tmp_path / "two.nc"
    assert main(["faults", "generate", "democnn-synthetic10", "--mode", "network-wise", "--margin", "0.2",
                 "-o", str(faults)]) == 0
    assert main(["run", "democnn-synthetic10", "--faults", str(faults), "--images", "16", "--frameworks",
                 "torch,onnxruntime", "-o", str(result)]) == 0
    capsys.readouterr()
    plan = ["plan", "democnn-synthetic10", "--margin", "0.05", "--pilot", str(result), "--faults", str(faults)]
    assert main([*plan, "--pair", "torch,onnxruntime"]) == 0
    out = capsys.readouterr().out
    for share in ("every share", "masked", "non-critical", "SDC-1", "NaN/Inf"):
        assert f"paired onnxruntime - torch       {share}" in out
    formula = int(out.split("both full campaigns (formula)")[1].split()[2].replace(",", ""))
    paired = int(out.split("paired onnxruntime - torch")[1].split()[2].replace(",", ""))
    assert paired <= formula
    assert main([*plan, "--pair", "torch,keras"]) == 2
    assert "'keras' is not one of the pilot's: torch, onnxruntime" in capsys.readouterr().err
    assert main(["plan", "democnn-synthetic10", "--pair", "torch,onnxruntime"]) == 2
    assert "argument 'pilot'" in capsys.readouterr().err
    assert main([*plan, "--pair", "torch"]) == 2
    assert "--pair names two runtimes" in capsys.readouterr().err
