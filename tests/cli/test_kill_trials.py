"""kill -9 at random points of runs (reference, fast, a shard), and while the result is written and the
checkpoint removed: every trial ends in a result identical to an uninterrupted run's. (A kill in those
last two steps may leave a hidden temporary file or a renamed checkpoint beside the result.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from readlx.campaign.runners.modes import without_modes
from readlx.cli import main
from readlx.provenance import without_provenance
from readlx.results import read_netcdf

MODEL = "democnn-synthetic10"
MODES = {"reference": ["--mode", "reference"], "fast": ["--mode", "fast-always", "--block-faults", "3"],
         "shard": ["--mode", "reference", "--shard", "1/2"]}


def _cli(*args: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-m", "readlx.cli", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _same(a: Path, b: Path) -> None:
    xr.testing.assert_identical(*(without_modes(without_provenance(read_netcdf(p))) for p in (a, b)))


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], limit: float = 120) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; ``False`` when it ended first."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    return False


def _moment(trial: int, out: Path, at: float) -> Callable[[], bool]:
    """When trial ``trial`` kills the run writing ``out``: at time ``at``, or at one of the last steps."""
    if trial % 10 == 8:  # while the result file is written: its temporary file exists
        return lambda: any(out.parent.glob(f".{out.name}.*.tmp"))
    if trial % 10 == 9:  # after the result is in place, during the checkpoint's removal
        return out.exists
    return lambda: time.monotonic() >= at


@pytest.mark.slow
def test_thirty_kills_each_resumed_to_the_identical_result(tmp_path: Path) -> None:
    faults = tmp_path / "faults.csv"
    assert main(["faults", "generate", MODEL, "-o", str(faults), "--margin", "0.15", "--mode", "network-wise"]) == 0
    rng = np.random.default_rng(2026)
    common = ["run", MODEL, "--faults", str(faults), "--images", "48", "--batch-size", "16", "--per-image",
              "--flush-seconds", "0"]
    refs, seconds = {}, {}
    for name, mode in MODES.items():
        refs[name] = tmp_path / f"ref-{name}.nc"
        t0 = time.monotonic()
        assert _cli(*common, *mode, "-o", str(refs[name])).wait() == 0
        seconds[name] = time.monotonic() - t0
    outcomes = {"killed": 0, "finished first": 0}
    for trial in range(30):
        name = list(MODES)[trial % len(MODES)]
        out = tmp_path / f"t{trial}.nc"
        ckpt = Path(str(out) + ".partial")
        proc = _cli(*common, *MODES[name], "-o", str(out))
        killed = _kill_when(proc, _moment(trial, out, time.monotonic() + rng.uniform(0.3, seconds[name])))
        outcomes["killed" if killed else "finished first"] += 1
        if (ckpt / "invocation.json").exists():
            assert _cli("run", "--resume", "-o", str(out)).wait() == 0, f"trial {trial} ({name}) did not resume"
        elif not out.exists():  # killed before the run had kept anything: run it again
            assert _cli(*common, *MODES[name], "-o", str(out)).wait() == 0, f"trial {trial} ({name})"
        assert not ckpt.exists()
        _same(refs[name], out)
    assert outcomes["killed"] >= 20, outcomes
