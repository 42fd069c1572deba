"""TensorFlow imported without its CUDA plugin registration lines, and nothing else hidden."""
from __future__ import annotations

import os
import subprocess
import sys


def test_importing_the_engines_prints_no_registration_noise() -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", "import readlx.engines"], env=env, capture_output=True, text=True,
                          check=True)
    assert "Unable to register" not in done.stderr and done.stderr.strip() == "", done.stderr


def test_the_zoo_listing_leaves_stderr_empty() -> None:
    done = subprocess.run([sys.executable, "-m", "readlx.cli", "zoo", "list"], capture_output=True, text=True,
                          check=True)
    assert done.stderr == "" and "resnet20-cifar10" in done.stdout
