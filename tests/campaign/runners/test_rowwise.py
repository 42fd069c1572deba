"""Which operations readlx.campaign.runners.rowwise lets refill run after a cut."""
from __future__ import annotations

import operator

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from readlx.campaign.runners.rowwise import why_not

X = torch.zeros(4, 3, 6, 6)


class CustomConv(nn.Conv2d):
    """A subclass may compute anything in its forward."""


@pytest.mark.parametrize(("target", "args", "kwargs", "out"), [
    (nn.Conv2d(3, 3, 1), (X,), {}, X),
    (nn.BatchNorm2d(3), (X,), {}, X),
    (nn.Flatten(), (X,), {}, X.flatten(1)),
    (operator.add, (X, X), {}, X),
    (F.pad, (X, (0, 0, 0, 0, 1, 1)), {}, X),
    (torch.cat, ([X, X],), {"dim": 1}, X),
    (torch.cat, ([X, X], -3), {}, X),
    (torch.flatten, (X, 1), {}, X.flatten(1)),
    (operator.getitem, (X, (slice(None), slice(None), slice(None, None, 2))), {}, X),
    (operator.getitem, ((4, 3), 0), {}, 4),
    ("view", (X, 4, -1), {}, X.view(4, -1)),
    ("mean", (X, (2, 3)), {}, X.mean((2, 3))),
    ("size", (X, 0), {}, 4),
])
def test_operations_that_keep_rows_apart(target: object, args: tuple[object, ...], kwargs: dict[str, object],
                                         out: object) -> None:
    assert why_not(target, args, kwargs, out) is None


@pytest.mark.parametrize(("target", "args", "kwargs", "out", "why"), [
    (CustomConv(3, 3, 1), (X,), {}, X, "module CustomConv is not known"),
    (nn.Flatten(0), (X,), {}, X.flatten(), "flatten along the batch axis"),
    (nn.LayerNorm(6), (X,), {}, X, "module LayerNorm"),
    (torch.cat, ([X, X],), {}, torch.cat([X, X]), "cat along the batch axis"),
    (torch.cat, ([X, X], -4), {}, torch.cat([X, X]), "cat along the batch axis"),
    (F.pad, (X, (0, 0, 0, 0, 0, 0, 1, 1)), {}, X, "pad reaches the batch axis"),
    (operator.getitem, (X, slice(0, 2)), {}, X[:2], "indexing along the batch axis"),
    (operator.getitem, (X, 0), {}, X[0], "indexing along the batch axis"),
    ("view", (X, -1), {}, X.view(-1), "changes the batch axis"),
    ("reshape", (X, 2, -1), {}, X.reshape(2, -1), "changes the batch axis"),
    ("sum", (X,), {}, X.sum(), "sum over every axis"),
    ("amax", (X, 0), {}, X.amax(0), "amax along the batch axis"),
    ("sort", (X, 0), {}, X, "method 'sort' is not known"),
    (torch.softmax, (X, 0), {}, X, "softmax is not known"),
])
def test_operations_that_may_mix_rows_say_why(target: object, args: tuple[object, ...], kwargs: dict[str, object],
                                              out: object, why: str) -> None:
    reason = why_not(target, args, kwargs, out)
    assert reason is not None and why in reason
