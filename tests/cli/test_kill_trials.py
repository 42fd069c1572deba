"""kill -9 at random points of runs (reference, fast, a shard, Dask workers), and while the result is
written and the checkpoint removed: every trial ends in a result identical to an uninterrupted run's,
and nothing of the killed attempt is left beside it (a hidden temporary file, a renamed checkpoint)."""
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
DASK = ["--mode", "reference", "--workers", "2", "--chunk", "8"]


def _cli(*args: str) -> subprocess.Popen[bytes]:
    """``readlx ARGS`` in a process group of its own, so a kill takes its Dask workers with it."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, "-m", "readlx.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _same(a: Path, b: Path) -> None:
    xr.testing.assert_identical(*(without_modes(without_provenance(read_netcdf(p))) for p in (a, b)))


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], limit: float = 120) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; ``False`` when it ended first."""
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    proc.wait()
    return False


def _moment(trial: int, out: Path, at: float) -> Callable[[], bool]:
    """When trial ``trial`` kills the run writing ``out``: at time ``at``, or at one of the last steps."""
    if trial % 10 == 8:  # while the result file is written: its temporary file exists
        return _writing(out.parent, f".{out.name}.*.tmp")
    if trial % 10 == 9:  # after the result is in place, during the checkpoint's removal
        return out.exists
    return lambda: time.monotonic() >= at


def _writing(folder: Path, pattern: str) -> Callable[[], bool]:
    """When a temporary file named like ``pattern`` exists in ``folder``."""
    return lambda: any(folder.glob(pattern))


def _faults(tmp_path: Path) -> Path:
    faults = tmp_path / "faults.csv"
    assert main(["faults", "generate", MODEL, "-o", str(faults), "--margin", "0.15", "--mode", "network-wise"]) == 0
    return faults


def _timed(common: list[str], mode: list[str], out: Path) -> float:
    t0 = time.monotonic()
    assert _cli(*common, *mode, "-o", str(out)).wait() == 0
    return time.monotonic() - t0


def _finish(common: list[str], mode: list[str], out: Path, what: str) -> None:
    """After a kill: resume the run, or run it again when it had kept nothing; a run that had finished
    is told so, and the leftovers of its killed clean-up are removed."""
    ckpt = Path(str(out) + ".partial")
    if (ckpt / "invocation.json").exists():
        assert _cli("run", "--resume", "-o", str(out)).wait() == 0, f"{what} did not resume"
    elif out.exists():  # killed after the result's rename: nothing to resume
        assert _cli("run", "--resume", "-o", str(out)).wait() == 2, what
    else:  # killed before the run had kept anything
        assert _cli(*common, *mode, "-o", str(out)).wait() == 0, what
    assert not ckpt.exists(), what
    assert [p.name for p in out.parent.glob(f".{out.name}*")] == [], f"{what} left files beside {out.name}"


@pytest.mark.slow
def test_thirty_kills_each_resumed_to_the_identical_result(tmp_path: Path) -> None:
    faults = _faults(tmp_path)
    rng = np.random.default_rng(2026)
    common = ["run", MODEL, "--faults", str(faults), "--images", "48", "--batch-size", "16", "--per-image",
              "--flush-seconds", "0"]
    refs = {name: tmp_path / f"ref-{name}.nc" for name in MODES}
    seconds = {name: _timed(common, mode, refs[name]) for name, mode in MODES.items()}
    outcomes = {"killed": 0, "finished first": 0}
    for trial in range(30):
        name = list(MODES)[trial % len(MODES)]
        out = tmp_path / f"t{trial}.nc"
        proc = _cli(*common, *MODES[name], "-o", str(out))
        killed = _kill_when(proc, _moment(trial, out, time.monotonic() + rng.uniform(0.3, seconds[name])))
        outcomes["killed" if killed else "finished first"] += 1
        _finish(common, MODES[name], out, f"trial {trial} ({name})")
        _same(refs[name], out)
    assert outcomes["killed"] >= 20, outcomes


@pytest.mark.slow
def test_kills_of_a_dask_run_and_its_workers_each_resume_to_the_identical_result(tmp_path: Path) -> None:
    """Six kills of the client with its local cluster: at random moments, while a chunk is written and
    while the result is written; the resumed run (on the workers kept in the checkpoint) is identical
    to a run in one process."""
    faults = _faults(tmp_path)
    rng = np.random.default_rng(7)
    common = ["run", MODEL, "--faults", str(faults), "--images", "48", "--batch-size", "16", "--per-image",
              "--flush-seconds", "0"]
    plain = tmp_path / "plain.nc"
    _timed(common, MODES["reference"], plain)
    seconds = _timed(common, DASK, tmp_path / "dask.nc")
    _same(plain, tmp_path / "dask.nc")
    killed = 0
    for trial in range(6):
        out = tmp_path / f"d{trial}.nc"
        ckpt = Path(str(out) + ".partial")
        if trial == 4:  # while a chunk's temporary file exists
            ready = _writing(ckpt, ".chunk-*.tmp")
        else:  # 3: while the result is written, 5: during the checkpoint's removal, else at random
            ready = _moment({3: 8, 5: 9}.get(trial, 0), out, time.monotonic() + rng.uniform(2.0, seconds))
        killed += _kill_when(_cli(*common, *DASK, "-o", str(out)), ready)
        _finish(common, DASK, out, f"dask trial {trial}")
        _same(plain, out)
    assert killed >= 4
