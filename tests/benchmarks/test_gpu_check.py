"""``benchmarks/gpu_check.py``: native GPU runs against the emulated plan; on the CPU, its plumbing."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=900)


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def test_on_the_cpu_native_float32_is_the_emulated_float32() -> None:
    """The same comparisons on the CPU (where the TF32 switches change nothing): native float32 and
    its emulation agree on every count, and both TF32 settings give the same counts."""
    done = _script("--demo", "--device", "cpu", "--faults", "6", "--images", "64")
    assert done.returncode == 0, done.stderr
    lines = {line.split(" vs ")[0].strip() + " | " + line.split(" vs ")[1].split("  ")[0].strip(): line
             for line in done.stdout.splitlines() if " vs " in line}
    assert lines["native, TF32 off | emulated float32"].endswith("triple exact 100.0 %")
    assert lines["native, PyTorch defaults | native, TF32 off"].endswith("triple exact 100.0 %")


def test_without_a_device_the_check_says_so() -> None:
    if _cuda():
        pytest.skip("a CUDA device is present: the check runs instead (test_published_faults_on_the_gpu)")
    done = _script()
    assert done.returncode == 0 and "skipped: no CUDA device here" in done.stdout


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.data
def test_published_faults_on_the_gpu(shared_data: Path) -> None:
    if not _cuda():
        pytest.skip("no CUDA device here (torch.cuda.is_available() is False)")
    done = _script("--faults", "4")
    assert done.returncode == 0, done.stderr
    assert "native, PyTorch defaults   vs emulated plan" in done.stdout
    assert "emulated plan              vs published" in done.stdout
