"""Layer tables of the CIFAR ResNets of the published suite, built from their known shapes."""
from __future__ import annotations

from readlx.graph import Layer, LayerTable

BLOCKS = {"ResNet20": 3, "ResNet32": 5, "ResNet44": 7}
WIDTHS = (16, 32, 64)
N_CLASSES = 10


def cifar_resnet_table(model: str) -> LayerTable:
    """Canonical layers of a CIFAR ResNet (option-A shortcuts: no shortcut convolutions).

    Examples
    --------
    >>> cifar_resnet_table("ResNet20").total_weights
    268336
    """
    n_blocks = BLOCKS[model]
    layers = [Layer("conv1", "conv", (WIDTHS[0], 3, 3, 3))]
    in_planes = WIDTHS[0]
    for stage, planes in enumerate(WIDTHS, start=1):
        for block in range(n_blocks):
            prefix = f"layer{stage}.{block}"
            layers.append(Layer(f"{prefix}.conv1", "conv", (planes, in_planes, 3, 3)))
            layers.append(Layer(f"{prefix}.conv2", "conv", (planes, planes, 3, 3)))
            in_planes = planes
    layers.append(Layer("linear", "linear", (N_CLASSES, WIDTHS[-1])))
    return LayerTable(model, tuple(layers))
