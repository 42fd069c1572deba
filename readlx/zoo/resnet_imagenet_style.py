"""ResNet18 (He et al. 2016) with the ImageNet stage widths, adapted to 32x32 inputs.

The CIFAR-100 benchmark's network: a 3x3 stem (``conv1.0``) at full resolution with no max-pool,
four stages ``conv2_x`` ... ``conv5_x`` of two BasicBlocks each (64/128/256/512 channels), blocks
holding ``residual_function`` (Conv-BN-ReLU-Conv-BN) and, where the shape changes, a projection
``shortcut`` (Conv1x1-BN), then global average pooling and an ``fc`` classifier.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

STAGE_WIDTHS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.residual_function = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        self.shortcut = nn.Sequential()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual_function(x) + self.shortcut(x))


class ResNetStages(nn.Module):
    """A BasicBlock ResNet with ``conv1`` stem, ``conv{k}_x`` stages and an ``fc`` head."""

    def __init__(self, blocks: tuple[int, ...], num_classes: int = 100) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True)
        )
        in_ch = 64
        for k, (width, n) in enumerate(zip(STAGE_WIDTHS, blocks, strict=False), start=2):
            stride = 1 if k == 2 else 2
            stage = [BasicBlock(in_ch, width, stride)] + [BasicBlock(width, width, 1) for _ in range(n - 1)]
            self.add_module(f"conv{k}_x", nn.Sequential(*stage))
            in_ch = width
        self.fc = nn.Linear(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        for k in range(2, 2 + len(STAGE_WIDTHS)):
            out = getattr(self, f"conv{k}_x")(out)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def resnet18_stages(num_classes: int = 100) -> ResNetStages:
    """The CIFAR-100 benchmark's ResNet18.

    >>> with torch.device("meta"):
    ...     sum(p.numel() for p in resnet18_stages(100).parameters())
    11220132
    """
    return ResNetStages((2, 2, 2, 2), num_classes)
