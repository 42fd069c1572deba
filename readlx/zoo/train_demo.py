"""Training of the demo CNN on the synthetic set; its weights ship as ``weights/democnn.npz``.

Shipping the weights (15 KB) rather than training at start-up keeps the demo's numbers identical
on every machine: CPU training is not bitwise reproducible across thread counts.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from readlx.data.synthetic import TRAIN_SEED, synthetic
from readlx.zoo.demo_cnn import DemoCNN

WEIGHTS = Path(__file__).with_name("weights") / "democnn.npz"


def train_demo(epochs: int = 12, n_train: int = 4096, seed: int = 0) -> DemoCNN:
    """Train a fresh :class:`DemoCNN` with Adam on ``n_train`` synthetic images."""
    torch.manual_seed(seed)
    data = synthetic(n_train, seed=TRAIN_SEED)
    x, y = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    model = DemoCNN()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(y), generator=gen).split(128):  # type: ignore[no-untyped-call]  # torch leaves Tensor.split unannotated
            opt.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            opt.step()
        sched.step()
    return model.eval()


def save_weights(model: DemoCNN, path: Path = WEIGHTS) -> None:
    np.savez(path, **{k: v.detach().cpu().numpy() for k, v in model.state_dict().items()})


def main() -> None:  # pragma: no cover - run by hand to refresh the shipped weights
    save_weights(train_demo())


if __name__ == "__main__":  # pragma: no cover
    main()
