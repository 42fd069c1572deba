"""DenseNet-BC (Huang et al. 2017) for small inputs, in the two layouts of the published suite.

Both use a bias-free 3x3 stem convolution at full resolution (no stem max-pool), bottleneck layers
(BN-ReLU-Conv1x1 to ``4 * growth`` channels, BN-ReLU-Conv3x3 to ``growth``), transitions halving
channels and resolution (BN-ReLU-Conv1x1-AvgPool; BN-Conv1x1-AvgPool, without ReLU, in the
``bottle_neck`` layout), and one Linear classifier on the globally averaged features.

* :class:`DenseNetTV` (CIFAR-10 DenseNet121/161): torchvision's names, ``features.conv0``,
  ``features.denseblock1.denselayer1.conv1``, ``features.transition1.conv``, ..., ``classifier``.
* :class:`DenseNetBottleneck` (CIFAR-100 and GTSRB DenseNet121): ``conv1``,
  ``features.dense_block_layer_0.bottle_neck_layer_0.bottle_neck.2``,
  ``features.transition_layer_0.down_sample.1``, ..., ``features.dense_block3...``, ``linear``.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

DENSENET121 = (32, (6, 12, 24, 16), 64)
"""(growth rate, layers per dense block, stem channels)."""
DENSENET161 = (48, (6, 12, 36, 24), 96)
BN_SIZE = 4


# -- torchvision layout --------------------------------------------------------------------------
class DenseLayerTV(nn.Module):
    def __init__(self, in_ch: int, growth: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_ch)
        self.conv1 = nn.Conv2d(in_ch, BN_SIZE * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(BN_SIZE * growth)
        self.conv2 = nn.Conv2d(BN_SIZE * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.norm1(x)))
        return torch.cat([x, self.conv2(F.relu(self.norm2(out)))], 1)


class TransitionTV(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(
            OrderedDict(
                norm=nn.BatchNorm2d(in_ch),
                relu=nn.ReLU(inplace=True),
                conv=nn.Conv2d(in_ch, out_ch, 1, bias=False),
                pool=nn.AvgPool2d(2, stride=2),
            )
        )


class DenseNetTV(nn.Module):
    """DenseNet-BC with torchvision's module names and a CIFAR stem."""

    def __init__(self, growth: int, blocks: tuple[int, ...], stem: int, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv0=nn.Conv2d(3, stem, 3, padding=1, bias=False),
                norm0=nn.BatchNorm2d(stem),
                relu0=nn.ReLU(inplace=True),
            )
        )
        ch = stem
        for b, n in enumerate(blocks, start=1):
            block = nn.Sequential(
                OrderedDict((f"denselayer{i + 1}", DenseLayerTV(ch + i * growth, growth)) for i in range(n))
            )
            self.features.add_module(f"denseblock{b}", block)
            ch += n * growth
            if b < len(blocks):
                self.features.add_module(f"transition{b}", TransitionTV(ch, ch // 2))
                ch //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(ch))
        self.classifier = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.features(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


# -- "bottle_neck" layout ------------------------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, in_ch: int, growth: int) -> None:
        super().__init__()
        inner = BN_SIZE * growth
        self.bottle_neck = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, inner, 1, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
            nn.Conv2d(inner, growth, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.bottle_neck(x)], 1)


class Transition(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.down_sample = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.AvgPool2d(2, stride=2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_sample(x)


class DenseNetBottleneck(nn.Module):
    """DenseNet-BC with ``bottle_neck``/``down_sample`` module names and a ``linear`` classifier."""

    def __init__(self, growth: int, blocks: tuple[int, ...], stem: int, num_classes: int = 100) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 3, padding=1, bias=False)
        self.features = nn.Sequential()
        ch = stem
        for b, n in enumerate(blocks):
            last = b == len(blocks) - 1
            # The source layout names the last block "dense_block3", the others "dense_block_layer_k".
            name = f"dense_block{b}" if last else f"dense_block_layer_{b}"
            block = nn.Sequential(
                OrderedDict((f"bottle_neck_layer_{i}", Bottleneck(ch + i * growth, growth)) for i in range(n))
            )
            self.features.add_module(name, block)
            ch += n * growth
            if not last:
                self.features.add_module(f"transition_layer_{b}", Transition(ch, ch // 2))
                ch //= 2
        self.features.add_module("bn", nn.BatchNorm2d(ch))
        self.features.add_module("relu", nn.ReLU(inplace=True))
        self.linear = nn.Linear(ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.features(self.conv1(x))
        return self.linear(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def densenet_tv(config: tuple[int, tuple[int, ...], int] = DENSENET121, num_classes: int = 10) -> DenseNetTV:
    """A torchvision-layout DenseNet-BC; ``config`` is :data:`DENSENET121` or :data:`DENSENET161`.

    The CIFAR-10 DenseNet121 has 6,956,426 parameters and DenseNet161 26,482,570 (the suite's table
    rounds them up to 6.97 M and 26.49 M); the per-layer fault counts of the published lists pin
    every Conv/Linear weight shape, the 3x3 stem included.

    >>> with torch.device("meta"):
    ...     sum(p.numel() for p in densenet_tv(DENSENET121, 10).parameters())
    6956426
    """
    growth, blocks, stem = config
    return DenseNetTV(growth, blocks, stem, num_classes)


def densenet_bottleneck(
    config: tuple[int, tuple[int, ...], int] = DENSENET121, num_classes: int = 100
) -> DenseNetBottleneck:
    """A ``bottle_neck``-layout DenseNet-BC (the CIFAR-100 and GTSRB DenseNet121).

    >>> with torch.device("meta"):
    ...     sum(p.numel() for p in densenet_bottleneck(DENSENET121, 100).parameters())
    7048548
    """
    growth, blocks, stem = config
    return DenseNetBottleneck(growth, blocks, stem, num_classes)
