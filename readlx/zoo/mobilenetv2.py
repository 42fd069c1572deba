"""MobileNetV2 (Sandler et al. 2018) for 32x32 inputs, as in the published CIFAR-10 benchmark.

A bias-free 3x3 stem at full resolution, seventeen inverted-residual blocks named ``layers.0`` ...
``layers.16`` (``conv1`` expand, ``conv2`` depthwise, ``conv3`` project, each followed by
BatchNorm), a 1x1 ``conv2`` to 1280 channels, 4x4 average pooling and a ``linear`` classifier. The
second stage keeps stride 1 so that 32x32 inputs end at 4x4. A stride-1 block whose width changes
adds a 1x1 convolution plus BatchNorm on its shortcut (``layers.k.shortcut.0``); a stride-2 block
has no residual connection.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# (expansion, output channels, blocks, stride of the first block)
STAGES = (
    (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)
)


class InvertedResidual(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, expansion: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        hidden = expansion * in_ch
        self.conv1 = nn.Conv2d(in_ch, hidden, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)
        self.bn2 = nn.BatchNorm2d(hidden)
        self.conv3 = nn.Conv2d(hidden, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Sequential()
        if stride == 1 and in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return out + self.shortcut(x) if self.stride == 1 else out


class MobileNetV2Cifar(nn.Module):
    """MobileNetV2 with the benchmark's module names (``conv1``, ``layers.k``, ``conv2``, ``linear``)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.layers = self._blocks(32)
        self.conv2 = nn.Conv2d(320, 1280, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(1280)
        self.linear = nn.Linear(1280, num_classes)

    @staticmethod
    def _blocks(in_ch: int) -> nn.Sequential:
        blocks = []
        for expansion, out_ch, n, stride in STAGES:
            for i in range(n):
                blocks.append(InvertedResidual(in_ch, out_ch, expansion, stride if i == 0 else 1))
                in_ch = out_ch
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(self.layers(out))))
        # A fixed 4x4 window, as trained: it is global pooling for 32x32 inputs only.
        return self.linear(torch.flatten(F.avg_pool2d(out, 4), 1))


def mobilenetv2_cifar(num_classes: int = 10) -> MobileNetV2Cifar:
    """The CIFAR-10 benchmark's MobileNetV2.

    >>> with torch.device("meta"):
    ...     sum(p.numel() for p in mobilenetv2_cifar(10).parameters())
    2296922
    """
    return MobileNetV2Cifar(num_classes)
