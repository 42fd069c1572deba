"""The PyTorch engine: the canonical runtime (names and layouts are PyTorch's)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from readlx._typing import Array
from readlx.engines.artifact import Artifact
from readlx.engines.base import batches, check_activation_index
from readlx.engines.registry import RUNTIMES, Runtime
from readlx.errors import FaultListError, ReadlxError
from readlx.fault_maps.fault import Fault, Site, apply_kind
from readlx.fault_maps.transient import draws
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
        self.hook_calls = 0
        """Calls of the module of the active activation fault since it was injected."""
        self._active: Fault | None = None  # the activation fault in place
        self.first_image = 0
        """Index in the campaign's image set of row 0 of the next forward pass, from which a transient
        fault's hook draws (:meth:`infer` sets it per batch; a runner calling the model sets it)."""
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

    def infer(self, images: Array, first_image: int = 0) -> Array:
        out = []
        with torch.inference_mode():
            for sl in batches(len(images), self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(images[sl])).to(self.device)
                self.first_image, calls = first_image + sl.start, self.hook_calls
                out.append(self.model(x).float().cpu().numpy())
                self._check_normalized(calls)
        return np.concatenate(out)

    def _check_normalized(self, calls_before: int) -> None:
        """Raise unless the normalized fault in place (if any) found its BatchNorm in this forward pass."""
        fault = self._active
        if fault is not None and fault.site is Site.NORMALIZED and self.hook_calls == calls_before:
            raise FaultListError(f"the output of layer {fault.layer!r} goes to no BatchNorm module, so "
                                 f"{fault.describe()!r} has no tensor to corrupt", field="site")

    def weight(self, layer: str) -> Array:
        self.table[layer]  # raises with the list of layers
        return self._weights[layer].detach().cpu().numpy().copy()

    @contextmanager
    def inject(self, fault: Fault) -> Iterator[None]:
        self.table.check_fault(fault)
        if fault.is_activation:
            self._active = fault
            try:
                with self._hooked(fault):
                    yield
            finally:
                self._active = None
            return
        weight = self._weights[fault.layer]
        with torch.no_grad():
            stored = weight[fault.index].clone()
            corrupted = fault.apply(np.float32(stored.item()))
            weight[fault.index] = torch.from_numpy(np.array(corrupted, dtype=np.float32)).to(weight.device)
            try:
                yield
            finally:
                weight[fault.index] = stored

    @contextmanager
    def _hooked(self, fault: Fault) -> Iterator[None]:
        """An activation fault: a forward hook on the layer's module corrupts its output (a new tensor,
        the module's own output is not changed) in every call, removed in ``finally``. A normalized
        fault's hooks corrupt the output of the BatchNorm module whose input is the layer's output."""
        module = dict(self.model.named_modules())[fault.layer]
        self.hook_calls = 0
        if fault.site is Site.NORMALIZED:
            handles = self._normalized_hooks(fault, module)
        else:
            handles = [module.register_forward_hook(self._corrupting(fault))]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _normalized_hooks(self, fault: Fault, module: nn.Module) -> list[Any]:
        """Hooks that remember the layer's latest output and corrupt the output of a BatchNorm called
        on that very tensor (``hook_calls`` counts those calls: :meth:`infer` checks each batch had one)."""
        latest: list[torch.Tensor] = []
        corrupt = self._corrupting(fault)

        def remember(mod: Any, inputs: Any, output: torch.Tensor) -> None:
            latest[:] = [output]

        def normalized(mod: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
            return corrupt(mod, inputs, output) if latest and inputs and inputs[0] is latest[0] else None

        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        return [module.register_forward_hook(remember), *(m.register_forward_hook(normalized) for m in norms)]

    def _corrupting(self, fault: Fault) -> Callable[..., torch.Tensor]:
        def hook(module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            self.hook_calls += 1
            out = output.clone()
            where, mask = self._where(fault, output)
            bits = out.view(torch.int32)
            bits[where] = apply_kind(fault.kind, bits[where], mask)
            return out

        return hook

    def _where(self, fault: Fault, output: torch.Tensor) -> tuple[tuple[Any, ...], Any]:
        """The elements an activation fault corrupts in one batch's ``output`` and their int32 masks:
        one element of every row, or for a transient fault each row's own draw."""
        shape = tuple(output.shape[1:])
        if not fault.is_transient:
            check_activation_index(shape, fault.index, fault)
            return (slice(None), *fault.index), int(np.array(fault.mask, np.uint32).view(np.int32))
        drawn = draws(fault, shape, np.arange(self.first_image, self.first_image + len(output)))
        index = torch.from_numpy(drawn.index).to(output.device)
        rows = torch.arange(len(output), device=output.device)
        masks = torch.from_numpy(drawn.masks.view(np.int32)).to(output.device)
        return (rows, *index.T), masks

    def layer_name(self, layer: str) -> str:
        return self.table[layer].name

    def describe(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "version": torch.__version__,
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "mkldnn": bool(
                torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]  # unannotated in torch
                and torch.backends.mkldnn.enabled
            ),
            "batch_size": self.batch_size,
        }


def build(artifact: Artifact, *, batch_size: int = 256, device: str = "cpu") -> TorchEngine:
    """The PyTorch engine on the artifact's module (a fresh copy of it), on ``"cpu"`` or ``"cuda"``."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ReadlxError("device 'cuda' asked for, but PyTorch finds no usable CUDA device here")
    return TorchEngine(artifact.torch_module(), artifact.table, batch_size=batch_size, device=device)


def activations(engine: TorchEngine, images: Array, batch_size: int) -> dict[str, Array]:
    """Outputs of the canonical layers' modules, collected by forward hooks removed in ``finally``."""
    modules = dict(engine.model.named_modules())
    names = engine.table.names
    collected: dict[str, list[Array]] = {name: [] for name in names}
    handles = [modules[name].register_forward_hook(_collector(collected[name])) for name in names]
    try:
        with torch.inference_mode():
            for sl in batches(len(images), batch_size):
                engine.model(torch.from_numpy(np.ascontiguousarray(images[sl])).to(engine.device))
    finally:
        for handle in handles:
            handle.remove()
    return {name: np.concatenate(parts) for name, parts in collected.items()}


def _collector(sink: list[Array]) -> Callable[..., None]:
    def hook(module: Any, inputs: Any, output: Any) -> None:
        sink.append(output.detach().float().cpu().numpy().copy())

    return hook



def fast_runner(engine: Any, images: Array, golden: Array, options: Any, task: Any) -> Any:
    """The exact fast runner of this runtime (imported on first use: the runners import the engines)."""
    from readlx.campaign.runners.torch_fast import TorchFastRunner

    return TorchFastRunner(engine, images, golden, options, task)


RUNTIMES.register(Runtime(
    "torch", build, "PyTorch (the canonical runtime: names and layouts are its own)", needs=("torch",),
    engine_type=TorchEngine, devices=("cpu", "cuda"), fast=fast_runner, activations=activations,
))
