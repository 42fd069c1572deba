"""Model zoo: benchmark cards of the published resilience suite, plus the embedded demo model."""
from __future__ import annotations

from functools import partial
from pathlib import Path

from torch import nn

from readlx.data.cifar import CIFAR10_NORMALIZATION
from readlx.data.synthetic import SYNTHETIC_NORMALIZATION
from readlx.zoo.checkpoints import read_npz, read_published_th
from readlx.zoo.demo_cnn import DemoCNN
from readlx.zoo.registry import ZOO, Benchmark
from readlx.zoo.resnet_cifar import resnet_cifar
from readlx.zoo.suite import register_suite

_TORCH = "dnn-benchmarks/torch/gpu/image_classification"
_TF = "dnn-benchmarks/tensorflow/gpu/image_classification"
_MATCH = "dnn-benchmarks-converter/ptxtf_utils/match"

for _depth in (20, 32, 44):
    ZOO.register(
        f"resnet{_depth}-cifar10",
        Benchmark(
            name=f"resnet{_depth}-cifar10",
            architecture=f"ResNet{_depth}",
            dataset="cifar10",
            num_classes=10,
            normalization=CIFAR10_NORMALIZATION,
            build=partial(resnet_cifar, _depth, 10),
            read_checkpoint=read_published_th,
            checkpoint=f"{_TORCH}/CIFAR10/fp32/resnet/ResNet{_depth}.th",
            fault_list=f"{_TORCH}/CIFAR10/fp32/resnet/ResNet{_depth}_FL.csv",
            tf_fault_list=f"{_TF}/CIFAR10/fp32/resnet/ResNet{_depth}_TF_FL.csv",
            match_file=f"{_MATCH}/CIFAR10/ResNet{_depth}_match",
        ),
    )

DEMO_WEIGHTS = Path(__file__).with_name("weights") / "democnn.npz"
ZOO.register(
    "democnn-synthetic10",
    Benchmark(
        name="democnn-synthetic10",
        architecture="DemoCNN",
        dataset="synthetic10",
        num_classes=10,
        normalization=SYNTHETIC_NORMALIZATION,
        build=DemoCNN,
        read_checkpoint=read_npz,
        input_shape=(3, 16, 16),
        axes={"hardware_platform": "CPU"},
    ),
)

register_suite(ZOO)


def load_model(name: str, checkpoint: str | Path | None = None) -> nn.Module:
    """Build zoo model ``name`` with its weights, in eval mode.

    The weights are, in order: ``checkpoint`` when given; the published checkpoint; the shipped
    weights of the demo model; otherwise the architecture's seeded random initialization (the
    same on every call), which is what conversion checks and short campaigns of the models without
    published weights use.
    """
    bench = ZOO[name]
    if checkpoint is None and bench.checkpoint is None:
        if name == "democnn-synthetic10":
            checkpoint = DEMO_WEIGHTS
        else:
            return bench.build().eval()
    return bench.load(checkpoint)


def trained(name: str) -> bool:
    """Does :func:`load_model` give zoo model ``name`` trained weights (published or shipped), rather
    than the seeded initialization?

    >>> trained("democnn-synthetic10"), trained("googlenet-cifar10")
    (True, False)
    """
    return ZOO[name].checkpoint is not None or name == "democnn-synthetic10"


__all__ = ["ZOO", "Benchmark", "load_model", "trained"]
