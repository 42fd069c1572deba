"""A picklable description of a campaign's engines and inputs, rebuilt the same way anywhere.

Shards and Dask workers receive a :class:`CampaignSpec` instead of live engines: each process builds
its own engines from it, with the same weights, batch size and thread count, so every process
computes bit-identical golden and faulty outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from readlx.campaign.inputs import Subject, image_data, subject
from readlx.engines import RUNTIMES, Artifact, Engine
from readlx.errors import ReadlxError
from readlx.outcomes.tasks import ImageData


@dataclass(frozen=True)
class CampaignSpec:
    """Everything needed to rebuild a campaign's engines and image set.

    ``model`` is a zoo name or a bundle directory (:func:`readlx.campaign.inputs.subject`), ``data`` what
    :func:`readlx.campaign.inputs.image_data` takes. ``frameworks`` are runtime names of
    :data:`readlx.engines.registry.RUNTIMES`. Without a bundle the runtimes that need only the PyTorch
    module run the zoo model with ``weights``; with a bundle every runtime (PyTorch too) runs the
    bundle's weights. ``threads`` fixes PyTorch's intra-op
    thread count (None keeps the process default); reductions split over a different number of
    threads may round differently. ``device`` is ``"cpu"`` or ``"cuda"`` for every runtime that runs
    on it (PyTorch, ONNX Runtime, Keras).
    """

    model: str
    frameworks: tuple[str, ...] = ("torch",)
    weights: str | None = None
    data: str | None = None
    images: int | None = None
    batch_size: int = 256
    bundle: str | None = None
    threads: int | None = None
    device: str = "cpu"

    def dataset(self) -> ImageData:
        """The images: the model's test set, a dataset name or directory, or an ``.npz`` file."""
        return image_data(self.data, self.subject(), self.images)

    def engines(self) -> list[Engine]:
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        runtimes = [RUNTIMES[fw] for fw in self.frameworks]  # unknown names fail here, listing the known
        artifact = self.artifact()
        for runtime in runtimes:
            if any(key != "torch" for key in runtime.needs) and not artifact.files:
                raise ReadlxError(
                    f"framework {runtime.name!r} runs a converted model: pass --bundle DIR "
                    f"(made by `readlx convert {self.model} --out DIR`)"
                )
        return [RUNTIMES.build(r.name, artifact, batch_size=self.batch_size, device=self.device) for r in runtimes]

    def artifact(self) -> Artifact:
        """The model the engines run: the bundle, or the zoo model with ``weights``."""
        return self.subject().artifact

    def model_name(self) -> str:
        """The model's name on the results' model axis (a bundle's zoo name or model name)."""
        return self.subject().name

    def subject(self) -> Subject:
        """The model: a zoo name (with ``weights``) or a bundle directory, or ``bundle`` for a zoo name."""
        if self.bundle is None:
            return subject(self.model, weights=self.weights)
        converted = subject(Path(self.bundle))
        if converted.benchmark is not None and converted.benchmark.name != self.model:
            raise ReadlxError(f"bundle {self.bundle!r} holds {converted.benchmark.name!r}, not {self.model!r}")
        return converted
