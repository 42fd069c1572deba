"""A picklable description of a campaign's engines and inputs, rebuilt the same way anywhere.

Shards and Dask workers receive a :class:`CampaignSpec` instead of live engines: each process builds
its own engines from it, with the same weights, batch size and thread count, so every process
computes bit-identical golden and faulty outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from readlx.data.imageset import ImageSet
from readlx.engines.base import Engine
from readlx.errors import ReadlxError


@dataclass(frozen=True)
class CampaignSpec:
    """Everything needed to rebuild a campaign's engines and image set.

    ``threads`` fixes PyTorch's intra-op thread count (None keeps the process default); reductions
    split over a different number of threads may round differently.
    """

    model: str
    frameworks: tuple[str, ...] = ("torch",)
    weights: str | None = None
    data: str | None = None
    images: int | None = None
    batch_size: int = 256
    bundle: str | None = None
    threads: int | None = None

    def dataset(self) -> ImageSet:
        from readlx.zoo import ZOO

        return ZOO[self.model].load_data(self.data, self.images)

    def engines(self) -> list[Engine]:
        import torch

        from readlx.engines.torch import TorchEngine
        from readlx.zoo import ZOO, load_model

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        bench = ZOO[self.model]
        table = bench.layer_table()
        engines: list[Engine] = []
        for fw in self.frameworks:
            if fw == "torch" and self.bundle is None:
                engines.append(TorchEngine(load_model(self.model, self.weights), table, self.batch_size))
            else:
                engines.append(self._converted(fw))
        return engines

    def _converted(self, framework: str) -> Engine:
        """An engine of the bundle: with a bundle, every runtime (PyTorch too) runs its weights."""
        from readlx.engines.registry import ENGINES

        ENGINES[framework]  # an unknown framework fails here, listing the known ones
        if self.bundle is None:
            raise ReadlxError(
                f"framework {framework!r} runs a converted model: pass --bundle DIR "
                f"(made by `readlx convert {self.model} --out DIR`)"
            )
        from readlx.converters.bundle import load_bundle

        bundle = load_bundle(Path(self.bundle))
        if bundle.benchmark not in (None, self.model):
            raise ReadlxError(f"bundle {self.bundle!r} holds {bundle.benchmark!r}, not {self.model!r}")
        return bundle.engine(framework, batch_size=self.batch_size)
