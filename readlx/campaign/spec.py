"""A picklable description of a campaign's engines and inputs, rebuilt the same way anywhere.

Shards and Dask workers receive a :class:`CampaignSpec` instead of live engines: each process builds
its own engines from it, with the same weights, batch size and thread count, so every process
computes bit-identical golden and faulty outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from readlx.data.imageset import ImageSet
from readlx.engines import RUNTIMES, Artifact, Engine
from readlx.errors import ReadlxError


@dataclass(frozen=True)
class CampaignSpec:
    """Everything needed to rebuild a campaign's engines and image set.

    ``frameworks`` are runtime names of :data:`readlx.engines.registry.RUNTIMES`. Without ``bundle``
    the runtimes that need only the PyTorch module run the zoo model with ``weights``; with a bundle
    every runtime (PyTorch too) runs the bundle's weights. ``threads`` fixes PyTorch's intra-op
    thread count (None keeps the process default); reductions split over a different number of
    threads may round differently.
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

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        runtimes = [RUNTIMES[fw] for fw in self.frameworks]  # unknown names fail here, listing the known
        artifact = self.artifact()
        for runtime in runtimes:
            if any(key != "torch" for key in runtime.needs) and self.bundle is None:
                raise ReadlxError(
                    f"framework {runtime.name!r} runs a converted model: pass --bundle DIR "
                    f"(made by `readlx convert {self.model} --out DIR`)"
                )
        return [RUNTIMES.build(r.name, artifact, batch_size=self.batch_size) for r in runtimes]

    def artifact(self) -> Artifact:
        """The model the engines run: the bundle, or the zoo model with ``weights``."""
        from readlx.zoo import ZOO, load_model

        if self.bundle is None:
            return Artifact(ZOO[self.model].layer_table(), lambda: load_model(self.model, self.weights))
        from readlx.converters.bundle import load_bundle

        bundle = load_bundle(Path(self.bundle))
        if bundle.benchmark not in (None, self.model):
            raise ReadlxError(f"bundle {self.bundle!r} holds {bundle.benchmark!r}, not {self.model!r}")
        return bundle.artifact()
