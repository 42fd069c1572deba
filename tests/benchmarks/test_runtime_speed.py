"""``benchmarks/runtime_speed.py`` on the published ResNet20's bundle: fast mode agrees with the reference
loop on ONNX Runtime and Keras, and says how many batches stopped early."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from readlx.converters import Bundle

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "runtime_speed.py"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("runtime", ["onnxruntime", "keras"])
def test_the_benchmark_checks_fast_mode_against_the_reference_loop(resnet20_bundle: Bundle, runtime: str) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(SCRIPT), str(resnet20_bundle.path), "--framework", runtime,
                           "--faults", "6", "--reference-faults", "3", "--images", "300",
                           *(["--ablate"] if runtime == "onnxruntime" else [])],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "6 random faults (seed 1) x 300 images" in out and "reference on the first 3" in out
    assert "per-image outcomes on the 3 common faults identical" in out
    stopped = re.search(r"(\d+) of 12 faulty batches stopped early", out)
    assert stopped is not None, out
    assert re.search(r"ratio [\d.]+ \(floor [\d.]+\); fast / floor [\d.]+", out), out
    once = re.search(r"fast, once per campaign: ([\d.]+) s \(golden pass ([\d.]+), start-up ([\d.]+), suffixes "
                     r"built and checked ([\d.]+)\)", out)
    assert once is not None and float(once[4]) > 0, out
    assert re.search(r"fast without the once-per-campaign costs: [\d.]+ s per fault, ratio [\d.]+; fast / floor", out)
    assert re.search(r"whole list \(16,627 faults, per-layer mix\): reference [\d.]+ h, fast [\d.]+ h, ratio", out)
    if runtime == "onnxruntime":  # how many batches computed one channel, and the same run without it
        assert re.search(r"(\d+) of 12 faulty batches computed one channel of the faulty "
                         r"convolution", out), out
        assert re.search(r"without channel-only layers: [\d.]+ s per fault, [\d.]+x the fast run's time; "
                         r"0 channel batches; outcomes identical", out), out
