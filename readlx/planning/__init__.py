"""Campaign planning: how many faults a question needs (:mod:`~readlx.planning.strata`,
:mod:`~readlx.planning.allocation`, :mod:`~readlx.planning.plan`)."""
from __future__ import annotations
