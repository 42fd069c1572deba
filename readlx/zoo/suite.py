"""The published suite's benchmarks beyond the CIFAR-10 ResNets: cards and their registration.

Only the CIFAR-10 ResNet20/32/44 weights are published with the suite's reference data, so the
networks registered here are built with random weights; :func:`seeded` makes that initialization
the same on every call, so that every engine and every run sees one network. Their
``read_checkpoint`` still reads the published ``.th`` format, for users who hold the weights.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import torch
import torch.nn as nn

from readlx.data.cifar import CIFAR10_NORMALIZATION, CIFAR100_NORMALIZATION
from readlx.data.gtsrb import GTSRB_CLASSES, GTSRB_NORMALIZATION, GTSRB_SIZE
from readlx.data.imageset import Normalization
from readlx.data.voc import IMAGENET_NORMALIZATION, VOC_CLASSES, VOC_SIZE
from readlx.registry import Registry
from readlx.zoo.cards import TRAINING
from readlx.zoo.checkpoints import read_published_th
from readlx.zoo.densenet import DENSENET121, DENSENET161, densenet_bottleneck, densenet_tv
from readlx.zoo.googlenet import googlenet_prelayer, googlenet_tv
from readlx.zoo.mobilenetv2 import mobilenetv2_cifar
from readlx.zoo.registry import Benchmark
from readlx.zoo.resnet_cifar import resnet_cifar
from readlx.zoo.resnet_imagenet_style import resnet18_stages
from readlx.zoo.vgg import vgg_bn

INIT_SEED = 0
"""Seed of the random initialization of the networks without published weights."""

_TORCH = "dnn-benchmarks/torch/gpu"
_TF = "dnn-benchmarks/tensorflow/gpu"
_MATCH = "dnn-benchmarks-converter/ptxtf_utils/match"
_DATASETS: dict[str, tuple[int, Normalization, tuple[int, int, int]]] = {
    # zoo dataset name -> (classes, test-time normalization, input shape)
    "cifar10": (10, CIFAR10_NORMALIZATION, (3, 32, 32)),
    "cifar100": (100, CIFAR100_NORMALIZATION, (3, 32, 32)),
    "gtsrb": (len(GTSRB_CLASSES), GTSRB_NORMALIZATION, (3, GTSRB_SIZE, GTSRB_SIZE)),
    "voc2012": (len(VOC_CLASSES), IMAGENET_NORMALIZATION, (3, VOC_SIZE, VOC_SIZE)),
}
# The published files' folder per zoo dataset name.
_FOLDERS = {"cifar10": "CIFAR10", "cifar100": "CIFAR100", "gtsrb": "GTSRB"}


@dataclass(frozen=True)
class SeededBuild:
    """A builder run with torch's CPU generator seeded; the caller's generator is restored.

    A class rather than a closure so that cards stay picklable (distributed campaigns ship them).
    """

    build: Callable[[], nn.Module]
    seed: int = INIT_SEED

    def __call__(self) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return self.build()


def seeded(build: Callable[[], nn.Module], seed: int = INIT_SEED) -> SeededBuild:
    """``build`` made deterministic: every call initializes the same weights.

    >>> make = seeded(partial(nn.Linear, 2, 2))
    >>> bool((make().weight == make().weight).all())
    True
    """
    return SeededBuild(build, seed)


def _training_axis(name: str) -> str:
    """The paper's "training process" axis: supervised learning, with the published recipe."""
    return f"supervised: {TRAINING[name].describe()}"


def _classifier(
    name: str,
    architecture: str,
    dataset: str,
    build: Callable[[int], nn.Module],
    files: tuple[str, str, str, str],
) -> Benchmark:
    """Card of one image-classification benchmark.

    ``files`` = (family folder, PyTorch list, TensorFlow list, name-map file), the names the suite
    gives them.
    """
    classes, norm, shape = _DATASETS[dataset]
    folder, torch_list, tf_list, match = files
    base = f"image_classification/{_FOLDERS[dataset]}/fp32/{folder}"
    return Benchmark(
        name=name,
        architecture=architecture,
        dataset=dataset,
        num_classes=classes,
        normalization=norm,
        build=seeded(partial(build, classes)),
        read_checkpoint=read_published_th,
        fault_list=f"{_TORCH}/{base}/{torch_list}",
        tf_fault_list=f"{_TF}/{base}/{tf_list}",
        match_file=f"{_MATCH}/{_FOLDERS[dataset]}/{match}",
        input_shape=shape,
        axes={"training_process": _training_axis(name)},
    )


def _deeplabv3(num_classes: int) -> nn.Module:
    # Imported on first build: torchvision would double the import time of readlx.zoo.
    from readlx.zoo.deeplab import deeplabv3_resnet50_voc

    return deeplabv3_resnet50_voc(num_classes)


def _deeplab() -> Benchmark:
    classes, norm, shape = _DATASETS["voc2012"]
    base = "image_segmentation/PASCAL_VOC/fp32/DeepLabV3"
    return Benchmark(
        name="deeplabv3-resnet50-voc",
        architecture="DeepLabV3-ResNet50",
        dataset="voc2012",
        num_classes=classes,
        normalization=norm,
        build=seeded(partial(_deeplabv3, classes)),
        read_checkpoint=read_published_th,
        fault_list=f"{_TORCH}/{base}/deeplabv3_resnet50_FL.csv",
        tf_fault_list=f"{_TF}/{base}/DeepLabV3_ResNet50_TF_FL.csv",
        task="image segmentation",
        input_shape=shape,
        axes={"training_process": _training_axis("deeplabv3-resnet50-voc")},
    )


def suite_benchmarks() -> list[Benchmark]:
    """Cards of the thirteen benchmarks this module adds (all but the CIFAR-10 ResNet20/32/44).

    >>> [b.name for b in suite_benchmarks()][:2]
    ['googlenet-cifar10', 'densenet121-cifar10']
    """
    c = _classifier
    return [
        c("googlenet-cifar10", "GoogLeNet", "cifar10", googlenet_tv,
          ("googlenet", "GoogLeNet_FL.csv", "googlenet_cifar10_TF_FL.csv", "GoogLeNet_match")),
        c("densenet121-cifar10", "DenseNet121", "cifar10", partial(densenet_tv, DENSENET121),
          ("densenet", "DenseNet121_FL.csv", "DenseNet121_TF_FL.csv", "DenseNet121_match")),
        c("densenet161-cifar10", "DenseNet161", "cifar10", partial(densenet_tv, DENSENET161),
          ("densenet", "DenseNet161_FL.csv", "DenseNet161_TF_FL.csv", "DenseNet161_match")),
        c("mobilenetv2-cifar10", "MobileNetV2", "cifar10", mobilenetv2_cifar,
          ("mobilenet", "Mobilenetv2_FL.csv", "mobilenetv2_cifar10_TF_FL.csv", "MobileNetV2_match")),
        c("vgg11bn-cifar10", "VGG-11-bn", "cifar10", partial(vgg_bn, "vgg11"),
          ("vgg", "Vgg11_bn_FL.csv", "Vgg11_bn_TF_FL.csv", "Vgg11_bn_match")),
        c("vgg13bn-cifar10", "VGG-13-bn", "cifar10", partial(vgg_bn, "vgg13"),
          ("vgg", "Vgg13_bn_FL.csv", "Vgg13_bn_TF_FL.csv", "Vgg13_bn_match")),
        c("resnet18-cifar100", "ResNet18", "cifar100", resnet18_stages,
          ("resnet", "ResNet18_CIFAR100_FL.csv", "ResNet18_TF_FL.csv", "ResNet18_match")),
        c("googlenet-cifar100", "GoogLeNet", "cifar100", googlenet_prelayer,
          ("googlenet", "GoogLeNet_CIFAR100_FL.csv", "googlenet_cifar100_TF_FL.csv", "GoogLeNet_match")),
        c("densenet121-cifar100", "DenseNet121", "cifar100", partial(densenet_bottleneck, DENSENET121),
          ("densenet", "DenseNet121_CIFAR100_FL.csv", "DenseNet121_TF_FL.csv", "DenseNet121_match")),
        c("resnet20-gtsrb", "ResNet20", "gtsrb", partial(resnet_cifar, 20),
          ("resnet", "ResNet20_GTSRB_FL.csv", "ResNet20_TF_FL.csv", "ResNet20_match")),
        c("vgg11bn-gtsrb", "VGG-11-bn", "gtsrb", partial(vgg_bn, "vgg11"),
          ("vgg", "Vgg11_bn_GTSRB_FL.csv", "Vgg11_bn_TF_FL.csv", "Vgg11_bn_match")),
        c("densenet121-gtsrb", "DenseNet121", "gtsrb", partial(densenet_bottleneck, DENSENET121),
          ("densenet", "DenseNet121_GTSRB_FL.csv", "DenseNet121_TF_FL.csv", "DenseNet121_match")),
        _deeplab(),
    ]


def register_suite(zoo: Registry[Benchmark]) -> None:
    """Register :func:`suite_benchmarks` in ``zoo`` (normally :data:`readlx.zoo.ZOO`).

    >>> zoo: Registry[Benchmark] = Registry("model")
    >>> register_suite(zoo)
    >>> len(zoo), zoo["resnet20-gtsrb"].num_classes
    (13, 43)
    """
    for bench in suite_benchmarks():
        zoo.register(bench.name, bench)


def with_training_axis(bench: Benchmark) -> Benchmark:
    """``bench`` with its published training row as the ``training_process`` axis (if known).

    For cards registered elsewhere, such as the CIFAR-10 ResNets.

    >>> from readlx.zoo import ZOO
    >>> with_training_axis(ZOO["resnet20-cifar10"]).characterization()["training_process"]
    'supervised: Adam, batch 128, 200 epochs, lr 0.001, x0.1 at epochs 50/100/150'
    """
    training = TRAINING.get(bench.name)
    if training is None:
        return bench
    return replace(bench, axes={**bench.axes, "training_process": _training_axis(bench.name)})
