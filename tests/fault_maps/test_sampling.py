"""Sample sizes (Leveugle et al. 2009) and error margins."""
from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from readlx.errors import InputError, ReadlxError
from readlx.fault_maps.sampling import (
    CONVENTIONAL_T,
    allocate,
    layer_populations,
    layer_wise_sizes,
    margin_of_error,
    network_wise_sizes,
    population,
    sample_size,
    t_value,
)
from readlx.graph import LayerTable

# Weights of the CIFAR ResNets and the sizes of the published lists.
RESNETS = {"ResNet20": (268_336, 16_625, 16_627), "ResNet32": (461_872, 16_632, 16_630),
           "ResNet44": (655_408, 16_634, 16_634)}


@pytest.mark.parametrize("confidence, t", sorted(CONVENTIONAL_T.items()))
def test_t_value_uses_the_conventional_rounded_values(confidence: float, t: float) -> None:
    assert t_value(confidence) == t


def test_t_value_falls_back_to_the_normal_quantile() -> None:
    assert t_value(0.98) == NormalDist().inv_cdf(0.99)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.2, "0.99", True])
def test_t_value_rejects_confidences_outside_the_unit_interval(bad: object) -> None:
    with pytest.raises(InputError, match=repr(bad).replace(".", r"\.")):
        t_value(bad)  # type: ignore[arg-type]  # the wrong type on purpose


@pytest.mark.parametrize("model", sorted(RESNETS))
def test_sample_size_matches_the_published_lists(model: str) -> None:
    weights, n, _ = RESNETS[model]
    assert sample_size(weights * 32 * 2, 0.01, 0.99, 0.5) == n
    assert sample_size(weights * 32 * 2, t=2.58) == n


def test_sample_size_rounds_half_to_even() -> None:
    # With t = 2, p = 1/2 and e = 1/2 the formula is 4N / (N + 3): exactly 2.5 for N = 5 and
    # 3.5 for N = 21.
    assert sample_size(5, margin=0.5, t=2.0) == 2
    assert sample_size(21, margin=0.5, t=2.0) == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"population": 0},
        {"population": 2.5},
        {"population": 100, "margin": 0.0},
        {"population": 100, "margin": 1.2},
        {"population": 100, "p": 1.0},
        {"population": 100, "t": -1.0},
        {"population": 100, "t": float("nan")},
    ],
)
def test_sample_size_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ReadlxError):
        sample_size(**kwargs)  # type: ignore[arg-type]  # the wrong type on purpose


@given(st.integers(1, 10**9), st.floats(0.001, 0.5), st.sampled_from(sorted(CONVENTIONAL_T)))
def test_sample_size_is_at_most_the_population(n_pop: int, margin: float, conf: float) -> None:
    assert 0 <= sample_size(n_pop, margin, conf) <= n_pop


@given(st.integers(2, 10**8), st.integers(1, 10**4))
def test_sample_size_grows_with_the_population(n_pop: int, extra: int) -> None:
    assert sample_size(n_pop) <= sample_size(n_pop + extra)


def test_population_counts_two_kinds_per_bit(small_table: LayerTable) -> None:
    assert population(small_table) == (108 + 160) * 32 * 2
    assert population(small_table, kinds=1) == (108 + 160) * 32
    assert layer_populations(small_table) == {"conv1": 108 * 64, "fc": 160 * 64}


def test_allocate_rounds_each_layer(small_table: LayerTable) -> None:
    n = 100
    assert allocate(small_table, n) == {"conv1": round(108 * n / 268), "fc": round(160 * n / 268)}


def test_allocate_rejects_a_model_without_weights() -> None:
    with pytest.raises(InputError, match="no injectable weights"):
        allocate(LayerTable("empty", ()), 10)


def test_network_wise_sizes_split_one_sample(small_table: LayerTable) -> None:
    n = sample_size(population(small_table), margin=0.05)
    assert network_wise_sizes(small_table, margin=0.05) == allocate(small_table, n)


def test_layer_wise_sizes_treat_each_layer_as_a_population(small_table: LayerTable) -> None:
    sizes = layer_wise_sizes(small_table, margin=0.05)
    populations = layer_populations(small_table)
    assert sizes == {name: sample_size(n, margin=0.05) for name, n in populations.items()}


@pytest.mark.parametrize("model", sorted(RESNETS))
def test_network_allocation_gives_the_published_list_lengths(
    model: str, cifar_resnet_table: Callable[[str], LayerTable]
) -> None:
    weights, n, rows = RESNETS[model]
    table = cifar_resnet_table(model)
    assert table.total_weights == weights
    assert sum(allocate(table, n).values()) == rows


def test_margin_of_error_at_the_sample_size_is_the_margin() -> None:
    n_pop = 268_336 * 64
    n = sample_size(n_pop)
    assert margin_of_error(0.5, n, n_pop) == pytest.approx(0.01, abs=1e-6)


def test_margin_of_error_takes_arrays_of_shares() -> None:
    shares = np.array([0.0, 0.1, 0.5, 1.0])
    out = margin_of_error(shares, 100, 10_000, t=1.96)
    expected = 1.96 * np.sqrt(shares * (1 - shares) / 100 * (10_000 - 100) / 9_999)
    np.testing.assert_allclose(out, expected)


def test_margin_of_error_is_zero_for_a_census() -> None:
    assert margin_of_error(0.4, 50, 50) == 0.0
    assert margin_of_error(0.4, 1, 1) == 0.0


@pytest.mark.parametrize(
    "args, message",
    [((1.5, 10, 100), "p_hat"), ((0.5, 0, 100), "n must"), ((0.5, 200, 100), "exceeds"),
     ((0.5, 10, 100, 0.0), "t must")],
)
def test_margin_of_error_rejects_bad_input(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(InputError, match=message):
        margin_of_error(*args)  # type: ignore[arg-type]  # the wrong type on purpose

