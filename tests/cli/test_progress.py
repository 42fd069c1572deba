"""The progress bar counts faults and weighs the remaining time by each fault's expected cost."""
from __future__ import annotations

import pytest

from readlx import progress
from readlx.cli.progress import progress_bar
from readlx.progress import ProgressBars, remaining_seconds


def test_remaining_time_weighs_the_faults_left() -> None:
    # Early faults cost 3, late ones 1: 2 done (6 units) in 12 s, 2 left (2 units) -> 4 s, not 12 s.
    weights = [3.0, 3.0, 1.0, 1.0]
    assert remaining_seconds(weights, 0, 2, 12.0) == pytest.approx(4.0)
    assert remaining_seconds([1.0] * 4, 0, 2, 12.0) == pytest.approx(12.0)
    # A resumed run: the faults done before it started are not in its rate.
    assert remaining_seconds(weights, 1, 2, 6.0) == pytest.approx(4.0)
    assert remaining_seconds(weights, 0, 4, 12.0) == 0.0
    assert remaining_seconds([0.0, 1.0], 0, 1, 5.0) is None  # only a no-op done: no rate yet
    assert remaining_seconds(weights, 0, 0, 5.0) is None


def test_the_bar_counts_faults_and_shows_the_weighted_remaining_time(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    now = [100.0]
    monkeypatch.setattr(progress.time, "perf_counter", lambda: now[0])
    bars, close = progress_bar()
    bars.weights("torch", [3.0, 1.0, 1.0, 1.0])
    bars("torch", 0, 4)
    bar = bars.bars["torch"]
    assert bar.postfix == progress.SETTING_UP
    now[0] = 106.0
    bars("torch", 1, 4)
    assert (bar.n, bar.total) == (1, 4)  # counted in faults
    assert bar.postfix == "00:06 left"  # 3 units in 6 s, 3 left; by count it would be 18 s
    bars("keras", 0, 2)  # no weights: every fault the same
    now[0] = 110.0
    bars("keras", 1, 2)
    assert bars.bars["keras"].postfix == "00:04 left"
    close()
    close()
    out = capsys.readouterr().out
    assert out.count("torch: 1 faults in 6.0 s") == 1 and "keras: 1 faults in 4.0 s" in out
    assert bars.wall_times() == [("torch", 1, 6.0), ("keras", 1, 4.0)]


def test_the_apis_bars_weigh_the_faults_and_print_nothing(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import readlx

    seen: list[list[float]] = []
    original = ProgressBars.weights

    def spy(self: ProgressBars, framework: str, weights: list[float]) -> None:
        seen.append(list(weights))
        original(self, framework, weights)

    monkeypatch.setattr(ProgressBars, "weights", spy)
    readlx.run("democnn-synthetic10", frameworks="torch", sample=6, images=8, mode="fast-always")
    assert len(seen) == 1 and len(seen[0]) == 6 and len(set(seen[0])) > 1  # fast mode: layers cost differently
    assert capsys.readouterr().out == ""
