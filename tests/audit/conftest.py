"""Synthetic fault lists with counts whose outcomes follow what bit flips do, and damaged copies."""
from __future__ import annotations

import numpy as np
import pytest

from readlx.fault_maps import generate
from readlx.fault_maps.faultlist import FaultList
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"
IMAGES = 1000


def plausible_counts(fl: FaultList, seed: int = 0) -> np.ndarray:
    """Counts as bit flips give them: bit 30 mostly SDC-1, other exponent bits sometimes non-critical,
    mantissa bits masked or, for the high ones, a few non-critical images; never SDC-1 below bit 16."""
    rng = np.random.default_rng(seed)
    rows = []
    for f in fl.faults:
        if f.bit == 30:
            sdc = int(rng.binomial(IMAGES, rng.uniform(0.3, 0.95)))
            rows.append([IMAGES, 0, IMAGES - sdc, sdc])
        elif f.bit >= 23:
            nc = int(rng.binomial(IMAGES, rng.uniform(0.0, 0.4)))
            rows.append([IMAGES, IMAGES - nc, nc, 0])
        else:
            nc = int(rng.binomial(IMAGES, 0.05 * f.bit / 22)) if f.bit >= 16 else 0
            rows.append([IMAGES, IMAGES - nc, nc, 0])
    return np.array(rows, dtype=np.int64)


@pytest.fixture(scope="session")
def healthy() -> FaultList:
    """The paper generator's list for the demo model (1 % margin, as published), with plausible counts."""
    fl = generate(ZOO[MODEL].layer_table(), margin=0.01, mode="paper", seed=42)
    return fl.with_published(plausible_counts(fl))
