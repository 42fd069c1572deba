"""Malformed weights files: a named CheckpointError, no code run from a pickle, the model untouched."""
from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from readlx.cli import main
from readlx.errors import CheckpointError
from readlx.zoo import ZOO, load_model
from readlx.zoo.checkpoints import read_npz, read_published_th

MODEL = "democnn-synthetic10"


def _state() -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in load_model(MODEL).state_dict().items()}


class _Runs:
    """A pickle that creates a file when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _with(key_kind: str, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        state = _state()
        key = next(k for k, v in state.items() if v.ndim == (4 if key_kind == "conv" else 1))
        state[key] = change(state[key])
        return _npz(path / "w.npz", **state)
    return make


def _npy(path: Path) -> Path:
    with path.open("wb") as f:
        np.save(f, np.zeros(3, np.float32))
    return path


def _truncated(path: Path) -> Path:
    full = _npz(path / "full.npz", **_state())
    out = path / "w.npz"
    out.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return out


def _pickled_npz(path: Path) -> Path:
    with zipfile.ZipFile(path / "w.npz", "w") as z, z.open("conv1.weight.npy", "w") as f:
        np.lib.format.write_array(f, np.array([_Runs(path / "ran")], dtype=object), allow_pickle=True)
    return path / "w.npz"


def _pickled_th(path: Path) -> Path:
    torch.save({"state_dict": {"conv1.weight": _Runs(path / "ran")}}, path / "w.th")
    return path / "w.th"


def _raw_pickle(path: Path) -> Path:
    (path / "w.th").write_bytes(pickle.dumps(_Runs(path / "ran")))
    return path / "w.th"


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "a directory": (lambda p: p, "not an .npz"),
    "garbage": (lambda p: (p / "w.npz").write_bytes(b"\x00garbage" * 10) and p / "w.npz", "not an .npz"),
    "truncated": (_truncated, "not an .npz"),
    "a single .npy": (lambda p: _npy(p / "w.npz"), "not an .npz"),
    "string array": (lambda p: _npz(p / "w.npz", **{**_state(), "conv1.weight": np.array(["a"])}), "not a tensor"),
    "object pickle in npz": (_pickled_npz, "not an .npz"),
    "NaN weights": (_with("conv", lambda a: np.where(a == a.flat[0], np.nan, a)), "NaN or infinite"),
    "infinite bias": (_with("bias", lambda a: np.full_like(a, np.inf)), "NaN or infinite"),
    "integer weights": (_with("conv", lambda a: a.astype(np.int64)), "dtype"),
    "wrong shape": (_with("conv", lambda a: a[:1]), "shape"),
    "missing key": (lambda p: _npz(p / "w.npz", **dict(list(_state().items())[1:])), "missing"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_npz_weights(tmp_path: Path, case: str) -> None:
    make, message = CASES[case]
    path = make(tmp_path)
    model = load_model(MODEL)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError, match=message) as err:
        read_npz(model, path)
    assert str(path) in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("make", [_pickled_th, _raw_pickle, lambda p: p, _truncated])
def test_torch_checkpoints_never_run_code(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    with pytest.raises(CheckpointError, match="not a tensor-only PyTorch checkpoint"):
        read_published_th(ZOO["resnet20-cifar10"].build(), path)
    assert not (tmp_path / "ran").exists()


def test_run_with_bad_weights_stops_before_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = CASES["NaN weights"][0](tmp_path)
    assert main(["run", MODEL, "--weights", str(path), "--images", "8", "--sample", "2", "-o",
                 str(tmp_path / "r.nc")]) == 2
    assert "NaN or infinite" in capsys.readouterr().err and not (tmp_path / "r.nc").exists()
