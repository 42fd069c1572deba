"""PyTorch -> Keras SavedModel (nobuco) and Keras -> ONNX, in a separate process.

Importing nobuco patches PyTorch for the whole process (every module's forward is wrapped and the
JIT is disabled), so the conversion runs in a child process (:mod:`readlx.converters._nobuco_worker`,
started by :func:`readlx.converters.isolated.run_isolated`). The model travels as a cloudpickle in
which the classes and functions of code that is not an installed package (a script, a notebook, a test
module) are pickled by value: the child never imports the caller's ``__main__`` or modules, so their
top-level code does not run again there.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from readlx.converters.isolated import python_module_command, run_isolated
from readlx.errors import ConversionError

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

WORKER = "readlx.converters._nobuco_worker"
DEFAULT_TIMEOUT_S = 900.0


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
    (work / "model.pkl").write_bytes(pickle_by_value(model))
    request = {
        "model": str(work / "model.pkl"),
        "input_shape": [int(s) for s in input_shape],
        "savedmodel": str(Path(savedmodel_dir).resolve()),
        "onnx": str(Path(onnx_path).resolve()),
        "result": str(work / "result.json"),
    }
    path = work / "request.json"
    path.write_text(json.dumps(request, indent=1))
    return path


def pickle_by_value(model: nn.Module) -> bytes:
    """``model`` as a cloudpickle whose classes from outside installed packages travel by value."""
    import cloudpickle

    local = [m for m in _class_modules(model) if not _installed(m)]
    for module in local:
        cloudpickle.register_pickle_by_value(module)
    try:
        return bytes(cloudpickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise ConversionError(f"model {type(model).__name__} cannot be pickled for the conversion process: {e}") from e
    finally:
        for module in local:
            cloudpickle.unregister_pickle_by_value(module)


def _class_modules(model: nn.Module) -> list[ModuleType]:
    """The modules defining the classes of ``model``'s submodules, except ``__main__`` (cloudpickle
    pickles what ``__main__`` defines by value anyway)."""
    names = dict.fromkeys(type(m).__module__ for m in model.modules())
    return [sys.modules[n] for n in names if n in sys.modules and n != "__main__"]


def _installed(module: ModuleType) -> bool:
    """Is ``module`` part of the interpreter, an installed package or readlx itself, which the
    conversion process imports by name?

    >>> import json, torch.nn
    >>> _installed(json), _installed(torch.nn)
    (True, True)
    """
    file = getattr(module, "__file__", None)
    if file is None:
        return module.__name__ in sys.builtin_module_names
    path = Path(file).resolve()
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.add(str(Path(__file__).resolve().parents[1]))  # readlx's own package directory
    return any(path.is_relative_to(Path(root).resolve()) for root in roots)


def _run_worker(request: Path, timeout_s: float) -> str:
    return run_isolated(python_module_command(WORKER, str(request)), _worker_env(), timeout_s,
                        "the Keras conversion process")


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = env.get("TF_CPP_MIN_LOG_LEVEL", "2")
    # The conversion needs no accelerator; keeping TensorFlow off the GPU leaves its memory to others.
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env
