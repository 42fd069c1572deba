"""A run killed by SIGKILL, SIGTERM or Ctrl-C is finished by `--resume -o OUT` alone, identical to a run
never interrupted; the options are the checkpoint's."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from readlx.results import read_netcdf

RUN = ["run", "democnn-synthetic10", "--sample", "300", "--images", "512", "--mode", "reference",
       "--flush-seconds", "0", "--threads", "1", "--seed", "5"]
COUNTS = ("masked", "non_critical", "critical", "nan_or_inf", "faulty_correct")


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # the child gets the default, as a user's terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _readlx(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "readlx.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def _finished(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out + err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("full") / "full.nc"
    code, log = _finished(_readlx(*RUN, "-o", str(out)))
    assert code == 0, log
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["SIGKILL", "SIGTERM", "Ctrl-C"])
def test_a_killed_run_resumes_from_its_checkpoint_alone(tmp_path: Path, uninterrupted: Path, sig: int) -> None:
    out = tmp_path / "r.nc"
    proc = _readlx(*RUN, "-o", str(out))
    checkpoint = Path(str(out) + ".partial")
    deadline = time.monotonic() + 120
    while not list(checkpoint.glob("torch.*.npz")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    code, log = _finished(proc)
    assert code != 0 and not out.exists(), log  # interrupted before the end
    if sig != signal.SIGKILL:
        assert "continue with:\n  readlx run --resume -o " + str(out) in log, log
    code, log = _finished(_readlx("run", "--resume", "-o", str(out)))
    assert code == 0, log
    resumed, full = read_netcdf(out), read_netcdf(uninterrupted)
    assert list(resumed.fault.values) == list(full.fault.values)
    for name in COUNTS:
        assert np.array_equal(resumed[name].values, full[name].values), name


def test_resume_without_output_or_checkpoint_is_a_named_error(tmp_path: Path) -> None:
    from readlx.cli import main

    assert main(["run", "--resume"]) == 2
    assert main(["run", "--resume", "-o", str(tmp_path / "none.nc")]) == 2
