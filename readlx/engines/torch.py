"""The PyTorch engine: the canonical runtime (names and layouts are PyTorch's)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn as nn

from readlx.engines.base import batches
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import Fault
from readlx.graph import LayerTable


class TorchEngine:
    """Runs a PyTorch model in eval mode on a fixed batch layout.

    Parameters
    ----------
    model
        The network; it is put in eval mode. Its weights are changed only inside :meth:`inject`,
        which restores the stored bits in ``finally``.
    table
        Its canonical layer table.
    batch_size
        Images per forward pass (the same for golden and faulty passes).
    device
        ``"cpu"`` or a CUDA device.

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table())
    >>> eng.infer(synthetic(4).images).shape
    (4, 10)
    """

    framework = "torch"

    def __init__(
        self, model: nn.Module, table: LayerTable, batch_size: int = 256, device: str = "cpu"
    ) -> None:
        self.model = model.eval().to(device)
        self.table = table
        self.batch_size = batch_size
        self.device = torch.device(device)
        modules = dict(self.model.named_modules())
        self._weights: dict[str, torch.Tensor] = {}
        for layer in table:
            module = modules.get(layer.name)
            if module is None or not isinstance(getattr(module, "weight", None), torch.Tensor):
                raise ReadlxError(f"model has no module {layer.name!r} with a weight")
            weight = module.weight
            if tuple(weight.shape) != layer.shape or weight.dtype != torch.float32:
                raise ReadlxError(
                    f"layer {layer.name!r}: weight is {weight.dtype} {tuple(weight.shape)}, "
                    f"table says float32 {layer.shape}"
                )
            self._weights[layer.name] = weight

    def infer(self, images: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for sl in batches(len(images), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[sl])).to(self.device)
                out.append(self.model(x).float().cpu().numpy())
        return np.concatenate(out)

    def weight(self, layer: str) -> np.ndarray:
        self.table[layer]  # raises with the list of layers
        return self._weights[layer].detach().cpu().numpy().copy()

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[None]:
        self.table.check_fault(fault)
        weight = self._weights[fault.layer]
        with torch.no_grad():
            stored = weight[fault.index].clone()
            corrupted = fault.apply(np.float32(stored.item()))
            weight[fault.index] = torch.from_numpy(np.array(corrupted, dtype=np.float32)).to(weight.device)
            try:
                yield
            finally:
                weight[fault.index] = stored

    def layer_name(self, layer: str) -> str:
        return self.table[layer].name

    def describe(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "version": torch.__version__,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "mkldnn": bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
            "batch_size": self.batch_size,
        }
