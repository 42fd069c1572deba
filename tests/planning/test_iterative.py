"""Iterative campaigns: seeded random rounds, a stop rule valid under repeated looks, resume mid-round."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from readlx.campaign import CampaignOptions, run_campaign
from readlx.cli import main
from readlx.data.synthetic import synthetic
from readlx.engines.torch import TorchEngine
from readlx.errors import ArgumentError
from readlx.fault_maps import generate
from readlx.fault_maps.faultlist import FaultList
from readlx.planning.iterative import run_until
from readlx.planning.sequential import Target, estimate, look, look_sizes, run_looks
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"


def _engine() -> TorchEngine:
    return TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8)


@pytest.fixture(scope="module")
def population() -> FaultList:
    return generate(ZOO[MODEL].layer_table(), margin=0.08, mode="network-wise", seed=1)


@pytest.mark.parametrize(("text", "message"), [
    ("0.01", "expected margin=M"), ("margin=0.01,margin=0.02", "expected margin=M"), ("looks=3", "names no margin"),
    ("margin=2", "margin and confidence must be in"), ("margin=0.01,outcomes=sdc", "unknown share 'sdc'"),
    ("margin=x", "could not convert"), ("margin=0.01,looks=0", "looks in 1..20"),
])
def test_bad_targets_are_argument_errors(text: str, message: str) -> None:
    with pytest.raises(ArgumentError, match=f"argument 'until'.*{message}"):
        Target.parse(text)


def test_looks_double_up_to_the_whole_list_and_the_level_pays_for_them() -> None:
    assert look_sizes(16_627, 8) == [130, 260, 520, 1040, 2079, 4157, 8314, 16627]
    assert look_sizes(50, 8) == [50] and look_sizes(1000, 1) == [1000]
    assert len(look_sizes(10**6, 8)) == 8
    assert Target(0.01, looks=8).level == pytest.approx(1 - 0.01 / 8)


def test_an_interval_of_faults_all_alike_still_has_a_width() -> None:
    e = estimate(np.zeros(100), "critical", 0.99)
    assert e.low == 0.0 and e.high > 0.01  # no SDC-1 in 100 faults does not prove a share below 1 %
    assert estimate(np.zeros(100), "critical", 0.99, population=100).half_width == 0.0  # the whole population


def test_the_stop_rule_covers_on_a_known_population() -> None:
    """1,000 campaigns over a population of 20,000 per-fault shares (a mixture like the published
    ResNet20 counts: most faults all-masked or all-critical, some partial): the interval where each stops
    covers the true mean in at least 99 % of them."""
    rng = np.random.default_rng(0)
    shares = np.concatenate([np.zeros(19_500), np.ones(200), rng.beta(0.5, 0.5, 300) * 0.5])
    truth = shares.mean()
    target = Target(0.01, outcomes=("critical",))
    covered, used = 0, []
    for _ in range(1000):
        n, (e,) = run_looks({"critical": rng.permutation(shares)}, target, population=len(shares))
        covered += e.low - 1e-12 <= truth <= e.high + 1e-12
        used.append(n)
    assert covered >= 990
    assert np.mean(used) < len(shares) / 3


def test_an_iterative_run_is_the_campaign_of_its_first_faults_in_the_seeded_order(population: FaultList) -> None:
    data = synthetic(16)
    target = Target(0.1, outcomes=("critical",))
    ds = run_until([_engine()], population, data, model=MODEL, target=target, seed=5)
    used = ds.attrs["until_faults_used"]
    assert ds.attrs["until_stopped"] == "target met" and used in look_sizes(len(population), target.looks)
    assert used < len(population) and ds.sizes["fault"] == used
    order = np.random.default_rng(5).permutation(len(population))[:used]
    plain = run_campaign([_engine()], population.subset(order), data, model=MODEL)
    assert np.array_equal(ds.critical.values, plain.critical.values) and (ds.fault.values == plain.fault.values).all()
    met, estimates = look({o: ds[o].values[0, :, 0] / 16 for o in target.outcomes}, target,
                          population.sampling.population if population.sampling else None)
    assert met and json.loads(ds.attrs["until_intervals"])["torch"]["critical"] == pytest.approx(
        [estimates[0].mean, estimates[0].low, estimates[0].high])


def test_an_unreachable_target_runs_the_whole_list(population: FaultList) -> None:
    small = population.subset(range(120))
    ds = run_until([_engine()], small, synthetic(8), model=MODEL, target=Target(0.001))
    assert ds.attrs["until_stopped"] == "fault list exhausted" and ds.sizes["fault"] == 120


def test_a_killed_iterative_run_resumes_mid_round(tmp_path: Path, population: FaultList) -> None:
    data, target = synthetic(8), Target(0.02, outcomes=("critical",))
    whole = run_until([_engine()], population, data, model=MODEL, target=target, seed=2)
    assert whole.sizes["fault"] > 150  # more than one round

    calls = [0]

    def stop(framework: str, done: int, total: int) -> None:
        calls[0] += 1
        if calls[0] == 3 + look_sizes(len(population), 8)[0]:  # inside the second round
            raise KeyboardInterrupt

    ckpt = tmp_path / "ck"
    opts = {"checkpoint": ckpt, "flush_seconds": 0.0}
    with pytest.raises(KeyboardInterrupt):
        run_until([_engine()], population, data, model=MODEL, target=target, seed=2,
                  options=CampaignOptions(**opts, progress=stop))
    assert (ckpt / "round-00.nc").is_file() and (ckpt / "round-01").is_dir()
    resumed = run_until([_engine()], population, data, model=MODEL, target=target, seed=2,
                        options=CampaignOptions(**opts, resume=True))
    assert np.array_equal(resumed.outcome.values if "outcome" in resumed else resumed.critical.values,
                          whole.outcome.values if "outcome" in whole else whole.critical.values)
    assert resumed.attrs["until_intervals"] == whole.attrs["until_intervals"]


def test_the_cli_runs_until_the_margin_and_refuses_bad_targets(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "it.nc"
    assert main(["run", MODEL, "--images", "16", "--until", "margin=0.05,outcomes=critical", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "iterative campaign: target met after" in text and "torch: critical" in text
    with pytest.raises(SystemExit) as exit_:
        main(["run", MODEL, "--until", "margin=0.05,outcomes=sdc", "-o", str(out)])
    assert exit_.value.code == 2 and "unknown share 'sdc'" in capsys.readouterr().err
    assert main(["run", MODEL, "--until", "margin=0.05", "--shard", "0/2", "-o", str(tmp_path / "s.nc")]) == 2
