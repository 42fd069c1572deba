"""``benchmarks/campaign_speed.py`` on the demo model: the reference loop, fast mode and its variants agree."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "campaign_speed.py"


def test_the_demo_benchmark_checks_every_variant_against_the_reference_loop() -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, str(SCRIPT), "--demo", "--faults", "12", "--images", "96",
                           "--batch-size", "16", "--reference-faults", "4", "--ablate"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "identical outcomes: yes (4 faults against the reference loop)" in out
    assert "without channel-only layers: fast" in out and "with refill: fast" in out
    refill = next(line for line in out.splitlines() if line.startswith("refill:"))
    assert "refused 0" in refill and "cuts verified 0" not in refill
