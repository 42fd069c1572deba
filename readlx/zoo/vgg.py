"""VGG with BatchNorm (Simonyan & Zisserman 2015) for small inputs, as in the published suite.

``features`` is one ``nn.Sequential`` of Conv3x3(bias)-BatchNorm-ReLU triples and 2x2 max-pools,
so convolutions sit at the indices the published fault lists name (``features.0``,
``features.4``, ...). The features are averaged to 1x1 and fed to the classifier
``Linear(512, 4096)``-ReLU-Dropout-``Linear(4096, 4096)``-ReLU-Dropout-``Linear(4096, classes)``
(``classifier.0``, ``classifier.3``, ``classifier.6``).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from readlx.errors import ReadlxError

POOL = 0
"""Marks a max-pool in a configuration."""
CONFIGS: dict[str, tuple[int, ...]] = {
    "vgg11": (64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    "vgg13": (64, 64, POOL, 128, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
}


class VGG(nn.Module):
    """VGG-bn with the benchmark's ``features``/``classifier`` indices."""

    def __init__(self, config: tuple[int, ...], num_classes: int = 10) -> None:
        super().__init__()
        self.features = _features(config)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(512, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _features(config: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for width in config:
        if width == POOL:
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        in_ch = width
    return nn.Sequential(*layers)


def vgg_bn(variant: str, num_classes: int = 10) -> VGG:
    """VGG-``variant`` with BatchNorm; ``variant`` is ``"vgg11"`` or ``"vgg13"``.

    >>> with torch.device("meta"):
    ...     sum(p.numel() for p in vgg_bn("vgg11", 10).parameters())
    28149514
    """
    if variant not in CONFIGS:
        raise ReadlxError(f"unknown VGG variant {variant!r}; valid: {', '.join(CONFIGS)}")
    return VGG(CONFIGS[variant], num_classes)
