"""Every docstring example in the package runs and gives what it shows, and the modules listed as
having examples have them (a module whose examples were deleted fails here)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import numpy as np
import pytest

import readlx
from readlx.fault_maps import Fault, FaultList

WORKER = "readlx.converters._nobuco_worker"
"""Imports nobuco, which patches PyTorch process-wide: it runs in its own process, tested there."""
MODULES = sorted(
    ["readlx", *(m.name for m in pkgutil.walk_packages(readlx.__path__, "readlx.")
                 if m.name != WORKER and not m.name.endswith("__main__"))]
)
# Converted bundles take a conversion process to make, so the examples of readlx.converters,
# .converters.bundle, .engines.keras and .engines.onnxruntime are shown but skipped; the tests of
# those modules run the same calls on a converted bundle.
WITH_EXAMPLES = frozenset({
    "readlx", "readlx._tensorflow", "readlx.audit.findings", "readlx.audit.consistency", "readlx.audit.plausibility",
    "readlx.audit.weights", "readlx.audit.run", "readlx.audit.text", "readlx.zoo", "readlx._typing", "readlx.api",
    "readlx.provenance", "readlx.campaign.runners.reference_fast", "readlx.comparisons.numerics.propose",
    "readlx.engines.torch_backends",
    "readlx.campaign.fingerprint", "readlx.campaign.inputs",
    "readlx.campaign.loop", "readlx.converters.sources", "readlx.converters.from_onnx", "readlx.converters.isolated",
    "readlx.converters.from_keras", "readlx.converters.onnx_torch",
    "readlx.data.arrays", "readlx.progress", "readlx.fault_maps.sites", "readlx.comparisons.ranking",
    "readlx.campaign.runners.choice", "readlx.campaign.runners.compare", "readlx.campaign.runners.costs",
    "readlx.campaign.runners.cut", "readlx.campaign.runners.dispatch", "readlx.campaign.runners.modes",
    "readlx.campaign.runners.golden_batch", "readlx.campaign.runners.keras_fast", "readlx.campaign.runners.channel",
    "readlx.campaign.runners.refill", "readlx.campaign.runners.rowwise",
    "readlx.campaign.runners.floor", "readlx.outputs",
    "readlx.campaign.runners.cut_channel", "readlx.campaign.runners.keras_channel",
    "readlx.campaign.runners.onnxruntime_channel",
    "readlx.campaign.runners.onnxruntime_fast",
    "readlx.campaign.runners.options", "readlx.campaign.runners.reference", "readlx.campaign.runners.torch_fast",
    "readlx.campaign.scaleout", "readlx.comparisons.accessor", "readlx.comparisons.breakdown",
    "readlx.comparisons.cf", "readlx.comparisons.divergence", "readlx.comparisons.examples",
    "readlx.comparisons.html", "readlx.comparisons.numerics.accuracy", "readlx.comparisons.numerics.explain",
    "readlx.comparisons.numerics.golden", "readlx.comparisons.numerics.masking", "readlx.comparisons.numerics.study",
    "readlx.comparisons.numerics.ulp", "readlx.comparisons.plots", "readlx.comparisons.stats",
    "readlx.comparisons.summary", "readlx.comparisons.tables", "readlx.comparisons.text",
    "readlx.converters.equivalence", "readlx.converters.namemaps",
    "readlx.converters.to_keras", "readlx.converters.to_onnx", "readlx.data.gtsrb", "readlx.data.imageset",
    "readlx.data.loaders", "readlx.data.suite_loaders", "readlx.data.synthetic", "readlx.data.voc",
    "readlx.engines", "readlx.engines.artifact", "readlx.engines.base", "readlx.engines.fxgraph",
    "readlx.engines.reference",
    "readlx.engines.reference.arithmetic", "readlx.engines.reference.convolution", "readlx.engines.reference.engine",
    "readlx.engines.reference.executor", "readlx.engines.reference.rounding", "readlx.engines.registry",
    "readlx.engines.torch", "readlx.engines.variants", "readlx.errors",
    "readlx.fault_maps", "readlx.fault_maps.fault", "readlx.fault_maps.faultlist", "readlx.fault_maps.formats",
    "readlx.fault_maps.generator", "readlx.fault_maps.io", "readlx.fault_maps.io_native", "readlx.fault_maps.io_paper",
    "readlx.fault_maps.sampling", "readlx.fault_maps.select", "readlx.fault_maps.translate", "readlx.graph",
    "readlx.outcomes.classification", "readlx.outcomes.records", "readlx.outcomes.segmentation",
    "readlx.outcomes.tasks", "readlx.registry", "readlx.results", "readlx.zoo.cards", "readlx.zoo.deeplab",
    "readlx.zoo.densenet", "readlx.zoo.googlenet", "readlx.zoo.mobilenetv2", "readlx.zoo.resnet_cifar",
    "readlx.zoo.resnet_imagenet_style", "readlx.zoo.suite", "readlx.zoo.vgg",
    "readlx.fault_maps.transient", "readlx.planning.strata", "readlx.planning.allocation", "readlx.planning.plan",
    "readlx.planning.bounds", "readlx.planning.sequential", "readlx.planning.iterative", "readlx.planning.paired",
})


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    if name in WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} is listed as having examples but has none"


def test_listed_modules_exist() -> None:
    assert WITH_EXAMPLES <= set(MODULES), sorted(WITH_EXAMPLES - set(MODULES))


def test_fault_list_equality_with_published_counts() -> None:
    a = FaultList.from_faults("m", (Fault("c", (0,), 1),), published=np.array([[1, 1, 0, 0]]))
    b = FaultList.from_faults("m", (Fault("c", (0,), 1),), published=np.array([[1, 1, 0, 0]]))
    assert a == b and hash(a) == hash(b)
    c = a.with_published(np.array([[1, 0, 1, 0]]))
    assert a != c
    assert a != FaultList.from_faults("m", a.faults)
