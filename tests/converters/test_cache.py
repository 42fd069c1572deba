"""The conversion cache: one conversion per content, also across processes, and no symlink followed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from readlx.converters.cache import cached_bundle
from readlx.converters.sources import module_source
from readlx.errors import OutputError
from readlx.graph import LayerTable

SCRIPT = """
import sys, torch, torch.nn as nn
import readlx.converters.conversion as conversion
from readlx.converters.cache import cached_bundle
from readlx.graph import LayerTable

original = conversion.convert_source
def counted(*args, **kwargs):
    with open(sys.argv[1], "a") as log:
        log.write("converted\\n")
    return original(*args, **kwargs)
conversion.convert_source = counted
torch.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)).eval()
print(cached_bundle(model, LayerTable.from_torch(model, "m"), (3, 8, 8)).path)
"""


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3)).eval()


@pytest.mark.slow
def test_two_processes_asking_at_once_convert_once(tmp_path: Path) -> None:
    env = {**os.environ, "READLX_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = tmp_path / "conversions.log"
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(log)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    paths = {out.strip().splitlines()[-1] for out, _ in outs}
    assert len(paths) == 1 and log.read_text().count("converted") == 1
    bundles = [p for p in (tmp_path / "cache" / "bundles").iterdir() if p.is_dir()]
    assert [str(b) for b in bundles] == list(paths)


def test_a_symlink_in_place_of_the_lock_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))
    model = _model()
    table = LayerTable.from_torch(model, "m")
    key = module_source(model, table, (3, 8, 8)).key()
    bundles = tmp_path / "cache" / "bundles"
    bundles.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (bundles / f"{key}.lock").symlink_to(victim)
    with pytest.raises(OutputError, match="lock: cannot be written: it is a symbolic link"):
        cached_bundle(model, table, (3, 8, 8))
    assert victim.read_text() == "keep" and not any(p.is_dir() for p in bundles.iterdir())
