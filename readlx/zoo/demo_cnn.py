"""A small CNN for the embedded synthetic set: the demo's model and the tests' real network.

It has every layer kind the converters and fault maps must handle: a regular conv with BatchNorm, a
depthwise conv, a residual add, a zero-padding shortcut and a Linear classifier.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from readlx.zoo.resnet_cifar import PadShortcut


class DemoCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.dwconv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.shortcut = PadShortcut(16)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1, bias=True)
        self.linear = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.dwconv(x)) + x)
        y = F.relu(self.bn3(self.conv2(x)) + self.shortcut(x))
        y = F.relu(self.conv3(y))
        return self.linear(F.adaptive_avg_pool2d(y, 1).flatten(1))
