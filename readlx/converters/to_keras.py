"""PyTorch -> Keras SavedModel (nobuco) and Keras -> ONNX, in a separate process.

Importing nobuco patches PyTorch for the whole process (every module's forward is wrapped and the
JIT is disabled), so the conversion runs in a child process (:mod:`readlx.converters._nobuco_worker`).
The model travels as a pickle; the source files of its classes travel with it so that classes defined
in scripts or test modules can be rebuilt in the child.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readlx.errors import ConversionError

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

WORKER = "readlx.converters._nobuco_worker"
DEFAULT_TIMEOUT_S = 900.0
_LOG_TAIL = 4000


@dataclass(frozen=True)
class KerasConversion:
    """What the conversion process produced and how long it took."""

    savedmodel: Path
    onnx: Path
    seconds: dict[str, float]
    versions: dict[str, str]
    log: str


def torch_to_keras(
    model: nn.Module,
    savedmodel_dir: str | Path,
    onnx_path: str | Path,
    input_shape: tuple[int, ...],
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> KerasConversion:
    """Convert ``model`` to a Keras SavedModel (NHWC input) and that model to ONNX.

    Parameters
    ----------
    model
        The network in eval mode. It is pickled, never changed.
    savedmodel_dir
        Where the Keras SavedModel directory is written.
    onnx_path
        Where the Keras model's ONNX export is written.
    input_shape
        One input in canonical layout without the batch axis, ``(C, H, W)``.
    timeout_s
        Limit for the conversion process.

    Raises
    ------
    ConversionError
        When the model cannot be pickled or the conversion process fails (its output is quoted).
    """
    with tempfile.TemporaryDirectory(prefix="readlx-nobuco-") as work:
        request = _write_request(model, Path(work), savedmodel_dir, onnx_path, input_shape)
        log = _run_worker(request, timeout_s)
        result = json.loads((Path(work) / "result.json").read_text())
    return KerasConversion(
        Path(savedmodel_dir), Path(onnx_path), result["seconds"], result["versions"], log
    )


def _write_request(
    model: nn.Module,
    work: Path,
    savedmodel_dir: str | Path,
    onnx_path: str | Path,
    input_shape: tuple[int, ...],
) -> Path:
    try:
        blob = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise ConversionError(
            f"model {type(model).__name__} cannot be pickled for the conversion process: {e}"
        ) from e
    (work / "model.pkl").write_bytes(blob)
    request = {
        "model": str(work / "model.pkl"),
        "sources": class_sources(model),
        "input_shape": [int(s) for s in input_shape],
        "savedmodel": str(Path(savedmodel_dir).resolve()),
        "onnx": str(Path(onnx_path).resolve()),
        "result": str(work / "result.json"),
    }
    path = work / "request.json"
    path.write_text(json.dumps(request, indent=1))
    return path


def class_sources(model: nn.Module) -> dict[str, str]:
    """Module name -> source file of the class of every submodule of ``model``.

    >>> import torch.nn as nn
    >>> sorted(class_sources(nn.Sequential(nn.ReLU())))
    ['torch.nn.modules.activation', 'torch.nn.modules.container']
    """
    sources: dict[str, str] = {}
    for module in model.modules():
        name = type(module).__module__
        file = getattr(sys.modules.get(name), "__file__", None)
        if file is not None:
            sources[name] = str(Path(file).resolve())
    return sources


def _run_worker(request: Path, timeout_s: float) -> str:
    command = [sys.executable, "-m", WORKER, str(request)]
    try:
        done = subprocess.run(
            command,
            env=_worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ConversionError(f"the Keras conversion process ran past {timeout_s} s") from e
    log = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise ConversionError(
            f"the Keras conversion process failed (exit status {done.returncode}); its output ends "
            f"with:\n{log[-_LOG_TAIL:]}"
        )
    return log


def _worker_env() -> dict[str, Any]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "2")
    # The conversion needs no accelerator; keeping TensorFlow off the GPU leaves its memory to others.
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env
