"""PyTorch CPU backend switches as a campaign engine: the same model, another kernel library.

On the CPU, PyTorch runs convolutions through oneDNN (``torch.backends.mkldnn``) when it is enabled,
and through its own im2col + BLAS kernels when it is not; both round differently. The intra-op thread
count changes how some reductions are split. :class:`TorchBackendEngine` runs a
:class:`~readlx.engines.torch.TorchEngine` with these switches set only around each inference
(restored in ``finally``), so it can sit beside the plain ``torch`` engine in one campaign.

Examples
--------
>>> from readlx.zoo import ZOO, load_model
>>> from readlx.data.synthetic import synthetic
>>> bench = ZOO["democnn-synthetic10"]
>>> eng = TorchBackendEngine(load_model(bench.name), bench.layer_table(), mkldnn=False)
>>> eng.framework, eng.infer(synthetic(2).images).shape
('torch-mkldnn-off', (2, 10))
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
import torch.nn as nn

from readlx._typing import Array
from readlx.engines.artifact import Artifact
from readlx.engines.registry import RUNTIMES, Runtime, RuntimeFamily
from readlx.engines.torch import TorchEngine
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault
from readlx.graph import LayerTable


@contextmanager
def backend_switches(mkldnn: bool = True, threads: int | None = None) -> Iterator[None]:
    """Set oneDNN on/off and the intra-op thread count; restore both on exit.

    Only the ``enabled`` flag of oneDNN is touched (its TF32 and precision settings stay as they are).
    """
    if threads is not None and threads < 1:
        raise ReadlxError(f"threads must be >= 1, got {threads!r}")
    saved_threads = torch.get_num_threads()
    with torch.backends.mkldnn.flags(enabled=mkldnn, deterministic=None, allow_tf32=None, fp32_precision=None):
        try:
            if threads is not None:
                torch.set_num_threads(threads)
            yield
        finally:
            torch.set_num_threads(saved_threads)


@contextmanager
def cuda_tf32(enabled: bool) -> Iterator[None]:
    """Let (or forbid) cuDNN convolutions and CUDA matrix multiplications use TF32; restore both on exit.

    PyTorch's defaults are TF32 on for cuDNN convolutions and off for matrix multiplications. Only
    CUDA kernels read these switches: on the CPU nothing changes.

    >>> import torch
    >>> before = torch.backends.cudnn.allow_tf32
    >>> with cuda_tf32(False):
    ...     torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    (False, False)
    >>> torch.backends.cudnn.allow_tf32 == before
    True
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = enabled
        torch.backends.cuda.matmul.allow_tf32 = enabled
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def backend_name(mkldnn: bool = True, threads: int | None = None) -> str:
    """Framework name of a switch setting.

    >>> backend_name(mkldnn=False, threads=1)
    'torch-mkldnn-off-threads1'
    """
    name = "torch" if mkldnn else "torch-mkldnn-off"
    return name if threads is None else f"{name}-threads{threads}"


class TorchBackendEngine:
    """A :class:`TorchEngine` whose inferences run under :func:`backend_switches`.

    Parameters
    ----------
    model, table, batch_size
        As for :class:`TorchEngine` (CPU only: the switches are CPU switches).
    mkldnn
        False runs PyTorch's native CPU convolution instead of oneDNN.
    threads
        Intra-op threads during inference (None: leave as is).
    name
        Framework name (default :func:`backend_name`).
    """

    def __init__(self, model: nn.Module, table: LayerTable, *, mkldnn: bool = True, threads: int | None = None,
                 batch_size: int = 256, name: str | None = None) -> None:
        self._engine = TorchEngine(model, table, batch_size=batch_size, device="cpu")
        self.table = table
        self.batch_size = batch_size
        self.mkldnn, self.threads = mkldnn, threads
        self.framework = name or backend_name(mkldnn, threads)

    def infer(self, images: Array, first_image: int = 0) -> Array:
        with backend_switches(self.mkldnn, self.threads):
            return self._engine.infer(images, first_image)

    def weight(self, layer: str) -> Array:
        return self._engine.weight(layer)

    def inject(self, fault: Fault) -> AbstractContextManager[None]:
        return self._engine.inject(fault)

    def layer_name(self, layer: str) -> str:
        return self._engine.layer_name(layer)

    def describe(self) -> dict[str, Any]:
        info = self._engine.describe()
        with backend_switches(self.mkldnn, self.threads):
            mkldnn = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]  # unannotated in torch
            info.update(framework=self.framework, mkldnn=bool(mkldnn and self.mkldnn), threads=torch.get_num_threads())
        return info


PATTERN = r"torch(?P<off>-mkldnn-off)?(?:-threads(?P<threads>\d+))?"
GRAMMAR = "torch[-mkldnn-off][-threadsN]"


def parse_backend(name: str) -> dict[str, Any]:
    """The switches a backend name sets.

    >>> parse_backend("torch-mkldnn-off-threads2")
    {'mkldnn': False, 'threads': 2}
    """
    match = re.fullmatch(PATTERN, name)
    if match is None:
        raise ReadlxError(f"unknown PyTorch backend variant {name!r}; valid: {GRAMMAR}")
    threads = match["threads"]
    return {"mkldnn": match["off"] is None, "threads": None if threads is None else int(threads)}


def _runtime(name: str) -> Runtime:
    switches = parse_backend(name)

    def build(artifact: Artifact, *, batch_size: int = 256) -> TorchBackendEngine:
        return TorchBackendEngine(artifact.torch_module(), artifact.table, batch_size=batch_size, name=name,
                                  **switches)

    return Runtime(name, build, "PyTorch with CPU backend switches (oneDNN off, intra-op threads)",
                   needs=("torch",), engine_type=TorchBackendEngine)


RUNTIMES.register_family(RuntimeFamily(PATTERN, GRAMMAR, _runtime, examples=("torch-mkldnn-off", "torch-threads1")))
