"""Every numeric argument is checked before any work: the refusal quotes the value, nothing is written."""
from __future__ import annotations

from pathlib import Path

import pytest

from readlx.cli import main

MODEL = "democnn-synthetic10"
BAD_COUNTS = ["0", "-1", "1.5", "abc", "١٢", str(2**63), ""]
BAD_SHARES = ["0", "1", "-0.1", "nan", "inf", "1e400", "x"]
BAD_POSITIVE = ["0", "-2", "nan", "-inf"]

COMMANDS = {
    "run": ["run", MODEL, "-o", "OUT"],
    "diff": ["diff", MODEL, "-o", "OUT"],
    "plan": ["plan", MODEL],
    "generate": ["faults", "generate", MODEL, "-o", "OUT"],
    "convert": ["convert", MODEL, "--out", "OUT"],
    "demo": ["demo", "--out", "OUT"],
    "numerics": ["numerics", MODEL],
}
CASES = [
    *[("run", flag, v) for flag in ("--sample", "--images", "--batch-size", "--threads", "--block-faults",
                                     "--cache-mib", "--workers", "--chunk") for v in BAD_COUNTS],
    *[("run", "--seed", v) for v in ("-1", "x", str(2**64))],
    *[("run", "--flush-seconds", v) for v in ("nan", "-1", "inf", "x")],
    *[("diff", "--delta", v) for v in BAD_POSITIVE],
    *[("diff", "--confidence", v) for v in BAD_SHARES],
    *[("diff", "--looks", v) for v in BAD_COUNTS[:3]],
    *[("plan", flag, v) for flag in ("--margin", "--confidence") for v in BAD_SHARES],
    *[("plan", flag, v) for flag in ("--images", "--probe-images") for v in BAD_COUNTS[:4]],
    *[("generate", flag, v) for flag in ("--margin", "--confidence", "--p") for v in BAD_SHARES],
    *[("generate", "--bits", v) for v in BAD_COUNTS[:4]],
    *[("convert", "--images", v) for v in BAD_COUNTS[:4]],
    *[("convert", "--tolerance", v) for v in BAD_POSITIVE],
    *[("demo", "--images", v) for v in BAD_COUNTS[:4]],
    *[("demo", "--margin", v) for v in BAD_SHARES[:4]],
    *[("numerics", "--batch-size", v) for v in BAD_COUNTS[:4]],
    *[("numerics", "--sample", v) for v in ("-1", "x")],
]


@pytest.mark.parametrize(("command", "flag", "value"), CASES)
def test_bad_numbers_are_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str,
                                         flag: str, value: str) -> None:
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in COMMANDS[command]]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, f"{flag}={value}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and repr(value) in err, err
    assert list(tmp_path.iterdir()) == []


def test_more_images_than_the_data_hold_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, images=rng.standard_normal((6, 3, 32, 32)).astype(np.float32), labels=np.arange(6) % 10)
    assert main(["run", MODEL, "--data", str(data), "--images", "7", "--sample", "2", "-o",
                 str(tmp_path / "r.nc")]) == 2
    assert "7 images asked for, the data hold 6" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]
