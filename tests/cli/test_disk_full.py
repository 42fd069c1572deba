"""A write that fails for lack of room (here a file size limit, ``ulimit -f``, which fails writes the
way a full disk does, without filling one): one named error that says what was kept and how to go
on; no truncated file is renamed into place; an old result survives; the resumed run is identical."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from readlx.campaign.runners.modes import without_modes
from readlx.cli import main
from readlx.provenance import without_provenance
from readlx.results import read_netcdf

MODEL = "democnn-synthetic10"


def _cli(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
        assert limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-m", "readlx.cli", *args], env=env, capture_output=True, text=True,
                          preexec_fn=limited if limit else None)


def _same(a: Path, b: Path) -> None:
    xr.testing.assert_identical(*(without_modes(without_provenance(read_netcdf(p))) for p in (a, b)))


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    root = tmp_path_factory.mktemp("full")
    faults = root / "faults.csv"
    assert main(["faults", "generate", MODEL, "-o", str(faults), "--margin", "0.2", "--mode", "network-wise"]) == 0
    common = ["run", MODEL, "--faults", str(faults), "--images", "48", "--batch-size", "16", "--per-image",
              "--mode", "reference", "--flush-seconds", "0"]
    plain = root / "plain.nc"
    assert _cli(*common, "-o", str(plain)).returncode == 0
    return common, plain


@pytest.mark.slow
@pytest.mark.parametrize(("limit", "fails"), [(1000, "torch.golden.npy"), (3000, "out.nc"), (20000, "out.nc")],
                         ids=["golden", "result", "result-late"])
def test_a_write_without_room_is_named_kept_and_resumed(campaign: tuple[list[str], Path], tmp_path: Path,
                                                        limit: int, fails: str) -> None:
    common, plain = campaign
    out = tmp_path / "out.nc"
    done = _cli(*common, "-o", str(out), limit=limit)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{fails}: cannot be written" in done.stderr
    assert "nothing was replaced" in done.stderr
    assert f"kept in {out}.partial" in done.stderr and f"readlx run --resume -o {out}" in done.stderr
    assert not out.exists()
    for kept in (out.parent / "out.nc.partial").iterdir():  # every kept file is whole: none is truncated
        assert not kept.name.endswith(".tmp") and (kept.stat().st_size < limit or kept.name == ".lock")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nc.partial"]
    resumed = _cli("run", "--resume", "-o", str(out))
    assert resumed.returncode == 0, resumed.stderr
    _same(plain, out)


@pytest.mark.slow
def test_a_failed_replacement_keeps_the_old_result(campaign: tuple[list[str], Path], tmp_path: Path) -> None:
    common, plain = campaign
    out = tmp_path / "out.nc"
    out.write_bytes(b"the old result")
    done = _cli(*common, "-o", str(out), "--force", limit=20000)
    assert done.returncode == 2 and "cannot be written" in done.stderr
    assert out.read_bytes() == b"the old result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nc", "out.nc.partial"]
