"""Which traced nodes compute each row of a batch from that row alone, by what they are.

Refill (:mod:`readlx.campaign.runners.refill`) moves faulty rows between batches, which is exact only
where every node after the cut treats rows separately. Kernels can break that by summing in an order
that depends on a row's position, which a numeric check on golden rows finds; an operation can break
it by what it computes (a batch mean, a sort over the batch, a value that turns every row into NaN
once one row holds NaN), which a check on golden rows can miss, since it shows only on faulty rows.
So a cut is used only when every node after it is one of the operations below, whose definition
computes rows separately, *and* the numeric check passes. Anything else refuses the cut, by name.

Examples
--------
>>> import operator
>>> why_not(torch.nn.ReLU(), (torch.zeros(4, 3),), {}, torch.zeros(4, 3)) is None
True
>>> why_not(torch.mean, (torch.zeros(4, 3),), {}, torch.zeros(()))
'mean is not known to compute each row alone'
>>> why_not(torch.cat, ([torch.zeros(4, 3), torch.zeros(4, 3)],), {"dim": 0}, torch.zeros(8, 3))
'cat along the batch axis'
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

_MODULES: frozenset[type[nn.Module]] = frozenset({
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
    nn.Hardsigmoid, nn.Hardtanh, nn.Identity, nn.Dropout, nn.Dropout2d,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
})
"""Modules that compute each row alone (BatchNorm and Dropout in eval mode, which the fast path
requires of the whole model). Exact types: a subclass may override ``forward`` with anything."""

_FUNCTIONS: frozenset[Any] = frozenset({
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg,
    torch.add, torch.sub, torch.mul, torch.relu, torch.sigmoid, torch.tanh,
    F.relu, F.relu6, F.gelu, F.silu, F.hardswish, F.hardsigmoid, F.leaky_relu, F.elu,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.avg_pool1d, F.avg_pool2d,
    F.avg_pool3d, F.max_pool1d, F.max_pool2d, F.max_pool3d, F.adaptive_max_pool2d,
})
"""Elementwise functions (broadcasting keeps rows apart) and per-row pooling."""

_METHODS = frozenset({"size", "dim", "contiguous", "relu", "sigmoid", "tanh", "add", "sub", "mul", "div",
                      "view", "reshape", "flatten", "mean", "sum", "amax"})


def why_not(target: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> str | None:
    """Why a call of ``target`` (a module, a function or a method name) on ``args`` giving ``out``
    may mix rows, or ``None`` when it computes each row alone. ``args[0]`` is the batch value."""
    if isinstance(target, nn.Module):
        if type(target) in _MODULES:
            return None
        if type(target) is nn.Flatten:
            return _axis_reason("flatten", target.start_dim, args)
        return f"module {type(target).__name__} is not known to compute each row alone"
    if isinstance(target, str):
        return _method(target, args, kwargs, out)
    return _function(target, args, kwargs)


def _function(target: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str | None:
    name = getattr(target, "__name__", repr(target))
    if target in _FUNCTIONS:
        return None
    if target is torch.cat:
        return _axis_reason("cat", kwargs.get("dim", args[1] if len(args) > 1 else 0), (args[0][0],))
    if target is torch.flatten:
        return _axis_reason("flatten", kwargs.get("start_dim", args[1] if len(args) > 1 else 0), args)
    if target is F.pad:
        pad = kwargs.get("pad", args[1] if len(args) > 1 else ())
        ok = isinstance(args[0], torch.Tensor) and len(pad) <= 2 * (args[0].dim() - 1)
        return None if ok else "pad reaches the batch axis"
    if target is operator.getitem:
        return _getitem(args[0], args[1])
    return f"{name} is not known to compute each row alone"


def _method(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], out: Any) -> str | None:
    if name not in _METHODS:
        return f"method {name!r} is not known to compute each row alone"
    if name in ("view", "reshape"):
        rows = isinstance(out, torch.Tensor) and out.dim() > 0 and out.shape[0] == args[0].shape[0]
        return None if rows else f"{name} to {tuple(out.shape)} changes the batch axis"
    if name == "flatten":
        return _axis_reason("flatten", kwargs.get("start_dim", args[1] if len(args) > 1 else 0), args)
    if name in ("mean", "sum", "amax"):
        dims = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if dims is None:
            return f"{name} over every axis"
        for d in dims if isinstance(dims, (tuple, list)) else (dims,):
            if _axis_reason(name, d, args) is not None:
                return f"{name} along the batch axis"
    return None


def _axis_reason(name: str, dim: Any, args: tuple[Any, ...]) -> str | None:
    """``None`` when axis ``dim`` of ``args[0]`` is not the batch axis."""
    ndim = args[0].dim() if isinstance(args[0], torch.Tensor) else None
    if not isinstance(dim, int) or ndim is None:
        return f"{name} along an axis that is not known"
    return None if dim % ndim != 0 else f"{name} along the batch axis"


def _getitem(value: Any, index: Any) -> str | None:
    if not isinstance(value, torch.Tensor):
        return None  # a size or a tuple of values: no rows
    first = index[0] if isinstance(index, tuple) and index else index
    if isinstance(first, slice) and first == slice(None):
        return None
    return "indexing along the batch axis"
