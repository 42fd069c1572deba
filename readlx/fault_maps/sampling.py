"""Statistical fault injection: how many faults to draw, and how precise the result is.

The sample size is the one of Leveugle et al., "Statistical fault injection: quantified error and
confidence", DATE 2009, which the published benchmark suite uses::

    n = N / (1 + e² (N − 1) / (t² p (1 − p)))

with population ``N``, error margin ``e``, confidence cut-off point ``t`` and estimated proportion
``p`` (0.5 is the worst case). Sample sizes are rounded with Python's :func:`round` (half to even),
as the published generator did.
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np

from readlx._typing import Array
from readlx.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from readlx.graph import LayerTable

FLOAT_BITS = 32
# The published lists count two fault kinds per bit (stuck-at-0 and stuck-at-1) in the population,
# even though they inject bit flips; a compatible generator has to do the same.
PAPER_KINDS = 2

# Rounded quantiles as printed in the statistical fault injection literature; 0.99 -> 2.58 is the
# value the published lists were drawn with (the exact quantile, 2.5758..., gives other sizes).
CONVENTIONAL_T = {0.90: 1.645, 0.95: 1.96, 0.99: 2.58, 0.995: 2.81, 0.999: 3.29}


def t_value(confidence: float) -> float:
    """Two-sided cut-off point ``t`` of the standard normal distribution for a confidence level.

    The conventional rounded values (:data:`CONVENTIONAL_T`) are used where they exist, the exact
    normal quantile otherwise.

    Examples
    --------
    >>> t_value(0.99)
    2.58
    >>> round(t_value(0.98), 4)
    2.3263
    """
    _check_open_unit("confidence", confidence)
    if confidence in CONVENTIONAL_T:
        return CONVENTIONAL_T[confidence]
    return NormalDist().inv_cdf((1.0 + confidence) / 2.0)


def sample_size(
    population: int,
    margin: float = 0.01,
    confidence: float = 0.99,
    p: float = 0.5,
    *,
    t: float | None = None,
) -> int:
    """Number of faults to draw from ``population`` for the given margin and confidence.

    Parameters
    ----------
    population
        Number of possible faults ``N``.
    margin
        Error margin ``e`` (0.01 = one percentage point).
    confidence
        Confidence level, turned into ``t`` by :func:`t_value`; ignored when ``t`` is given.
    p
        Estimated proportion of the outcome (0.5 maximizes the sample).
    t
        Cut-off point, to bypass ``confidence``.

    Examples
    --------
    >>> sample_size(268_336 * 32 * 2)  # ResNet20
    16625
    >>> sample_size(1000, margin=0.05, confidence=0.95)
    278
    """
    n_pop = _check_count("population", population)
    _check_open_unit("margin", margin)
    _check_open_unit("p", p)
    t = t_value(confidence) if t is None else _check_positive("t", t)
    n = n_pop / (1 + margin**2 * (n_pop - 1) / (t**2 * p * (1 - p)))
    return round(n)


def population(table: LayerTable, bits: int = FLOAT_BITS, kinds: int = PAPER_KINDS) -> int:
    """Fault population ``N = W × bits × kinds`` of a model with ``W`` injectable weights.

    The default ``kinds=2`` is the count the published generator used (see the module notes).

    Examples
    --------
    >>> from readlx.graph import Layer, LayerTable
    >>> population(LayerTable("m", (Layer("fc", "linear", (10, 16)),)))
    10240
    """
    return table.total_weights * _check_count("bits", bits) * _check_count("kinds", kinds)


def layer_populations(
    table: LayerTable, bits: int = FLOAT_BITS, kinds: int = PAPER_KINDS
) -> dict[str, int]:
    """Fault population of every layer, ``W_layer × bits × kinds``, in table order.

    Examples
    --------
    >>> from readlx.graph import Layer, LayerTable
    >>> layer_populations(LayerTable("m", (Layer("fc", "linear", (10, 16)),)), kinds=1)
    {'fc': 5120}
    """
    _check_count("bits", bits)
    _check_count("kinds", kinds)
    return {layer.name: layer.numel * bits * kinds for layer in table}


def allocate(table: LayerTable, n: int) -> dict[str, int]:
    """Split a network-wise sample of ``n`` faults over the layers: ``round(W_layer × n / W)``.

    The rounding is done per layer, so the parts need not add up to ``n`` (the published ResNet20
    list has 16,627 rows for ``n = 16,625``).

    Examples
    --------
    >>> from readlx.graph import Layer, LayerTable
    >>> t = LayerTable("m", (Layer("a", "linear", (1, 3)), Layer("b", "linear", (1, 3))))
    >>> allocate(t, 5)
    {'a': 2, 'b': 2}
    """
    n = _check_count("n", n, minimum=0)
    total = table.total_weights
    if total == 0:
        raise InputError(f"model {table.model!r} has no injectable weights to allocate faults to")
    return {layer.name: round(layer.numel * n / total) for layer in table}


def network_wise_sizes(
    table: LayerTable,
    margin: float = 0.01,
    confidence: float = 0.99,
    p: float = 0.5,
    *,
    t: float | None = None,
    bits: int = FLOAT_BITS,
    kinds: int = PAPER_KINDS,
) -> dict[str, int]:
    """Faults per layer for one network-wise sample, allocated in proportion to the weights.

    Examples
    --------
    >>> from readlx.graph import Layer, LayerTable
    >>> t = LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))))
    >>> network_wise_sizes(t, margin=0.05)
    {'conv1': 258, 'fc': 383}
    """
    n = sample_size(population(table, bits, kinds), margin, confidence, p, t=t)
    return allocate(table, n)


def layer_wise_sizes(
    table: LayerTable,
    margin: float = 0.01,
    confidence: float = 0.99,
    p: float = 0.5,
    *,
    t: float | None = None,
    bits: int = FLOAT_BITS,
    kinds: int = PAPER_KINDS,
) -> dict[str, int]:
    """Faults per layer when every layer is a population of its own (``W_layer × bits × kinds``).

    Examples
    --------
    >>> from readlx.graph import Layer, LayerTable
    >>> t = LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))))
    >>> layer_wise_sizes(t, margin=0.05)
    {'conv1': 607, 'fc': 625}
    """
    return {
        name: sample_size(n_pop, margin, confidence, p, t=t)
        for name, n_pop in layer_populations(table, bits, kinds).items()
    }


def margin_of_error(
    p_hat: float | Array, n: int, population: int, t: float = CONVENTIONAL_T[0.99]
) -> float | Array:
    """Error margin of an observed share ``p_hat`` of ``n`` faults drawn from ``population``.

    ``t · sqrt(p̂ (1 − p̂) / n · (N − n) / (N − 1))``, i.e. the normal approximation with
    the finite population correction. ``p_hat`` may be an array of shares.

    Examples
    --------
    >>> round(margin_of_error(0.5, 16625, 268_336 * 32 * 2), 4)
    0.01
    >>> margin_of_error(0.3, 10, 10)
    0.0
    """
    n = _check_count("n", n)
    n_pop = _check_count("population", population)
    if n > n_pop:
        raise InputError(f"sample size n={n!r} exceeds the population {n_pop!r}")
    _check_positive("t", t)
    shares = np.asarray(p_hat, dtype=np.float64)
    if not np.all((shares >= 0.0) & (shares <= 1.0)):
        raise InputError(f"p_hat must hold shares in [0, 1], got {p_hat!r}")
    # With N == 1 the only sample is the whole population: no sampling error.
    fpc = 0.0 if n_pop == 1 else (n_pop - n) / (n_pop - 1)
    out = t * np.sqrt(shares * (1.0 - shares) / n * fpc)
    return float(out) if out.ndim == 0 else out


def _check_count(name: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_open_unit(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise InputError(f"{name} must be a number in the open interval (0, 1), got {value!r}")
    if not 0.0 < float(value) < 1.0:
        raise InputError(f"{name} must be in the open interval (0, 1), got {value!r}")
    return float(value)


def _check_positive(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
        or float(value) <= 0.0
    ):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)
