"""``benchmarks/campaign_speed.py`` on the demo model: the reference loop, fast mode and its variants agree."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "campaign_speed.py"


def _demo(*args: str) -> str:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(SCRIPT), "--demo", "--faults", "12", "--images", "96",
                           "--batch-size", "16", "--reference-faults", "4", "--ablate", *args],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_demo_benchmark_checks_every_variant_against_the_reference_loop() -> None:
    out = _demo()
    assert "identical outcomes: yes (4 faults against the reference loop)" in out
    assert "without channel-only layers: fast" in out and "with refill: fast" in out
    refill = next(line for line in out.splitlines() if line.startswith("refill:"))
    assert "refused 0" in refill and "cuts verified 0" not in refill


def test_stacked_batches_are_checked_against_the_reference_loop_and_run_without() -> None:
    out = _demo("--stack", "3")
    assert "identical outcomes: yes (4 faults against the reference loop)" in out
    assert "pooled batches of 48 rows" in out and "without stacked batches: fast" in out
    assert "with refill: fast" not in out  # stacked batches pool rows already
    refill = next(line for line in out.splitlines() if line.startswith("refill:"))
    assert "refused 0" in refill and "cuts verified 0" not in refill
