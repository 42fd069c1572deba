"""Exact fast campaigns (DESIGN.md invariant 7): same outcomes as the reference loop, less work.

A faulty run restarts from golden activations cached at the faulty layer's cut (prefix reuse), and
stops as soon as its whole batch is back to golden (early masking); see :mod:`readlx.fast.suffix` for
why stopping is exact. No-op stuck-at faults are classified without inference, as in the reference
loop. Campaigns select it with ``CampaignOptions(mode="fast")``; engines without a fast path fall back
to the reference loop.
"""
from __future__ import annotations

from readlx.fast.dispatch import fast_runner
from readlx.fast.options import FastOptions, FastPathError, FastUnsupported
from readlx.fast.torch_fast import FastStats, TorchFastRunner

__all__ = ["FastOptions", "FastPathError", "FastStats", "FastUnsupported", "TorchFastRunner", "fast_runner"]
