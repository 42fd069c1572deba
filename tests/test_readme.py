"""The README's Python example runs as written."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_a_python_example() -> None:
    assert len(_python_blocks()) >= 1


@pytest.mark.parametrize("code", _python_blocks())
def test_python_example_runs(code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("READLX_CACHE", str(tmp_path / "cache"))  # a conversion lands here
    cwd = os.getcwd()
    os.chdir(tmp_path)  # whatever the example writes lands here
    try:
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    frameworks = re.findall(r'frameworks=\(([^)]*)\)', code)[0]
    for framework in re.findall(r'"([^"]+)"', frameworks):
        assert re.search(rf"^{re.escape(framework)} (SDC-1|masked) ", out, flags=re.M), (framework, out)
