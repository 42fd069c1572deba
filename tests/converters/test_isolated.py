"""The conversion process: isolated from the working directory, one at a time, its whole process tree
ended on a timeout, never started from inside another, and fed the caller's classes by value."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from readlx.converters.isolated import CHILD_MARK, python_module_command, run_isolated
from readlx.errors import ConversionError

ROOT = Path(__file__).resolve().parents[2]


def _alive(token: str) -> list[int]:
    """Processes whose command line holds ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if token.encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_a_timeout_ends_the_whole_process_tree() -> None:
    token = f"readlx-test-{uuid.uuid4().hex}"
    code = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            f"'import time; time.sleep(60)', '{token}']); time.sleep(60)")
    start = time.monotonic()
    with pytest.raises(ConversionError, match="ran past 1.5 s; it and its children were ended"):
        run_isolated([sys.executable, "-c", code, token], dict(os.environ), 1.5, "the test process")
    assert time.monotonic() - start < 30
    time.sleep(0.2)
    assert _alive(token) == []  # neither the child nor its grandchild outlives the timeout


def test_failures_quote_the_output() -> None:
    code = "import sys; print('something broke'); sys.exit(3)"
    with pytest.raises(ConversionError, match=r"(?s)exit status 3\).*something broke"):
        run_isolated([sys.executable, "-c", code], dict(os.environ), 30, "the test process")


def test_no_conversion_process_starts_from_inside_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHILD_MARK, "1")
    with pytest.raises(ConversionError, match="inside a conversion process"):
        run_isolated([sys.executable, "-c", "pass"], dict(os.environ), 30, "the test process")


def test_one_conversion_process_at_a_time() -> None:
    spans: list[tuple[float, float]] = []

    def run() -> None:
        t0 = time.monotonic()
        run_isolated([sys.executable, "-c", "import time; time.sleep(0.5)"], dict(os.environ), 30, "p")
        spans.append((t0, time.monotonic()))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a0, a1), (b0, b1) = sorted(spans, key=lambda s: s[1])
    assert b1 - a1 >= 0.45  # the second child ran after the first had ended


def test_the_working_directory_is_not_on_the_childs_path(tmp_path: Path) -> None:
    (tmp_path / "json.py").write_text("raise SystemExit('planted module imported')\n")
    command = python_module_command("json.tool", "--help")
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "planted" not in out.stdout + out.stderr


SCRIPT = '''
import numpy as np, torch, torch.nn as nn
import readlx

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))

with open(MARKER, "a") as f:  # counts how often this top-level code runs
    f.write("ran\\n")
torch.manual_seed(0)
rng = np.random.default_rng(0)
data = (rng.standard_normal((8, 3, 8, 8)).astype(np.float32), rng.integers(0, 3, 8))
ds = readlx.run(Tiny().eval(), data, sample=4, frameworks=("torch", "keras", "onnxruntime"), progress=False)
print("ran on", ",".join(ds.framework.values))
'''


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "python -c"])
def test_a_model_of_a_script_without_main_guard_converts_once(tmp_path: Path, how: str) -> None:
    marker, out = tmp_path / "marker.txt", tmp_path / "cache"
    code = f"MARKER = {str(marker)!r}\n" + textwrap.dedent(SCRIPT)
    if how == "script":
        (tmp_path / "tiny.py").write_text(code)
        command = [sys.executable, str(tmp_path / "tiny.py")]
    else:
        command = [sys.executable, "-c", code]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "READLX_CACHE": str(out)}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ran on torch,keras,onnxruntime" in done.stdout
    assert marker.read_text().splitlines() == ["ran"]  # the conversion process did not run the script
    assert len(list((out / "bundles").glob("*/bundle.json"))) == 1
