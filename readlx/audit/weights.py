"""The change each fault of a list makes to its weight, from a model's weights.

Examples
--------
>>> from readlx.fault_maps.fault import Fault
>>> fl = FaultList.from_faults("m", (Fault("fc", (0, 1), 30), Fault("fc", (0, 1), 0)))
>>> w = {"fc": np.array([[0.5, 0.25]], np.float32)}
>>> [float(d) for d in changes(fl, w)]  # 0.25 * 2**128 - 0.25, and one unit in the last place
[8.507059173023462e+37, 2.9802322387695312e-08]
"""
from __future__ import annotations

import numpy as np

from readlx._typing import Array
from readlx.errors import ReadlxError
from readlx.fault_maps.fault import FaultKind, Site
from readlx.fault_maps.faultlist import FaultList


def changes(fl: FaultList, weights: dict[str, Array]) -> Array:
    """``|Δw|`` of each single-bit weight bit flip of ``fl`` (``inf`` where the flip gives Inf or NaN);
    NaN for the faults this does not cover (activations, several bits, stuck-at, unknown layers)."""
    out = np.full(len(fl), np.nan)
    for k, f in enumerate(fl.faults):
        if (f.site is not Site.WEIGHT or not isinstance(f.bit, int) or f.kind is not FaultKind.BIT_FLIP
                or f.layer not in weights):
            continue
        value = np.float32(weights[f.layer][f.index])
        flipped = (np.array(value).view(np.uint32) ^ np.uint32(1 << f.bit)).view(np.float32)
        out[k] = abs(float(flipped) - float(value)) if np.isfinite(flipped) else np.inf
    return out


def model_weights(name: str) -> tuple[dict[str, Array] | None, str]:
    """Zoo model ``name``'s trained Conv/Linear weights by canonical name, or None and why not."""
    from readlx.zoo import ZOO, load_model, trained

    if not trained(name):
        return None, f"{name} has no published weights"
    try:
        module = load_model(name)
    except ReadlxError as e:
        return None, str(e)
    return {layer.name: module.get_submodule(layer.name).weight.detach().cpu().numpy()  # type: ignore[operator]
            for layer in ZOO[name].layer_table().layers}, f"the weights of {name}"
