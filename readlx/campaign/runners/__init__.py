"""Runners: how a campaign executes the faults of one engine, all with the block interface of
:class:`readlx.campaign.runners.blocks.BlockRunner` (no-op handling and stored weights live there, once).

:mod:`readlx.campaign.runners.reference` is the reference loop, one full inference per fault, and its
plain one-fault form :func:`~readlx.campaign.runners.reference.run_fault`, the definition the fast
runners are tested against. The exact fast runners (invariant 7 of docs/architecture.md) give the same
outcomes with less work: a faulty run restarts from golden values cached at the faulty layer's cut
(prefix reuse). On PyTorch (:mod:`readlx.campaign.runners.torch_fast`) it also stops as soon as its
whole batch is back to golden (early masking; :mod:`readlx.campaign.runners.suffix` says why that is
exact). On ONNX Runtime (:mod:`readlx.campaign.runners.onnxruntime_fast`) each layer's suffix subgraph
runs in its own session, and on Keras (:mod:`readlx.campaign.runners.keras_fast`) each layer's
sub-model in its own ``tf.function``, both checked bit for bit against the whole graph at start-up
(:mod:`readlx.campaign.runners.cut`). A runtime names its fast runner in its registry entry
(:data:`readlx.engines.registry.RUNTIMES`); engines without one, and models a fast runner cannot run,
fall back to the reference loop, and the campaign's attrs say why. Fast mode measures each layer's
cost on both runners and runs its faults on the cheaper (:mod:`readlx.campaign.runners.choice`, the
predictions in :mod:`readlx.campaign.runners.costs`); ``fast-always`` forces the fast runner wherever
it can run.
"""
from __future__ import annotations

from readlx.campaign.runners.blocks import FastStats
from readlx.campaign.runners.dispatch import fast_runner
from readlx.campaign.runners.options import FastOptions, FastPathError, FastUnsupported
from readlx.campaign.runners.torch_fast import TorchFastRunner

__all__ = ["FastOptions", "FastPathError", "FastStats", "FastUnsupported", "TorchFastRunner", "fast_runner"]
