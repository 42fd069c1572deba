"""``benchmarks/channel_speed.py`` on the demo model's bundle: a row per channel-only layer, each channel
identical to the whole layer's."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from readlx.converters import Bundle

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "channel_speed.py"


def test_every_channel_only_layer_is_timed_and_identical(demo_bundle: Bundle) -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), str(demo_bundle.path), "--images", "16", "--repeats", "2"],
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = re.findall(r"^(\w+)\s+(\S+)\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+(True|False)$", done.stdout, re.MULTILINE)
    assert [(layer, identical) for layer, _, identical in rows] == [("conv2", "True"), ("conv3", "True")], done.stdout
    assert "'dwconv': 'a grouped convolution (group=8)'" in done.stdout
