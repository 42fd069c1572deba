"""The README is true: its Python examples and every command it shows run as written (scaled down as
:mod:`readme_scale` says), in order, in an empty directory beside ``../shared``."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from readme_scale import commands, needs, scaled

README = Path(__file__).resolve().parents[1] / "README.md"
SHARED = README.parent.parent / "shared"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _run_python(code: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    return out.getvalue()


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with ``../shared`` beside it, as a checkout has."""
    work = tmp_path / "checkout"
    work.mkdir()
    if SHARED.is_dir():
        (tmp_path / "shared").symlink_to(SHARED)
    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))  # conversions land here
    monkeypatch.chdir(work)
    return work


def test_the_readme_has_python_examples_and_commands() -> None:
    assert len(_python_blocks()) >= 2 and len(commands(README.read_text())) >= 20


def test_campaigns_over_every_test_image_are_scaled_to_fewer_faults() -> None:
    explain = ["numerics", "explain", "resnet20-cifar10", "--published", "FL.csv", "--sample", "40"]
    full = ["run", "resnet20-cifar10", "--sample", "20", "-o", "full.nc"]
    assert scaled(explain, []) == explain[:-1] + ["3"]
    assert scaled(full, [["report", "full.nc", "--published", "FL.csv"]]) == full[:3] + ["3", "-o", "full.nc"]
    assert scaled(full, []) == full[:3] + ["8", "-o", "full.nc", "--images", "64"]


@pytest.mark.parametrize("code", _python_blocks())
def test_python_example_runs(code: str, checkout: Path) -> None:
    out = _run_python(code)
    frameworks = re.findall(r"frameworks=\(([^)]*)\)", code)[0]
    for framework in re.findall(r'"([^"]+)"', frameworks):
        assert re.search(rf"^{re.escape(framework)} (SDC-1|masked) ", out, flags=re.M), (framework, out)


@pytest.mark.slow
def test_every_readme_command_runs(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from readlx.cli import main

    for code in _python_blocks():
        _run_python(code)
    listed = commands(README.read_text())
    times, skipped = [], []
    for k, argv in enumerate(listed):
        missing = [str(p) for p in needs(argv) if not p.exists()]
        if missing:
            skipped.append(f"readlx {' '.join(argv)}: {', '.join(missing)} absent")
            continue
        run = scaled(argv, listed[k + 1:])
        start = time.perf_counter()
        code = main(run)
        times.append((time.perf_counter() - start, " ".join(run)))
        assert code == 0, f"readlx {' '.join(run)} exited {code}:\n{capsys.readouterr().err[-3000:]}"
    with capsys.disabled():
        for seconds, command in times:
            print(f"{seconds:7.1f} s  readlx {command}")
        for reason in skipped:
            print(f"skipped  {reason}")
    if not times:
        pytest.skip("no README command could run: " + "; ".join(skipped))
