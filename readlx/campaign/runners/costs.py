"""What a fault costs on the reference loop and on a fast runner, predicted from what a campaign has
measured so far.

The reference loop costs one whole inference of the images per fault, ``R`` seconds, whatever the
layer. A fast runner costs, per block of faults, a golden pass (the values at the cuts for every
image, about one inference; PyTorch's runner keeps it across blocks when the images fit its cache)
and, per fault, the run from its layer's cut to the output: the later the layer, the less. Runners
that build something per layer (:class:`~readlx.campaign.runners.cut.CutRunner`: a suffix graph per
layer, checked on the first and last batch) also pay a set-up per layer, once: a probe pass of the
check batches, the build, and the checks themselves. A campaign of a few faults per layer does not
earn that set-up back (ResNet20 on ONNX Runtime, one fault per layer on 500 images: 0.59 times the
reference loop's speed); a long one does, on every layer but the first ones.

:class:`CostModel` predicts each cost from the measurements (:class:`Measured`) and, for what was not
measured yet, from a prior in units of ``R``: a fault of a layer costs ``alpha * R * share`` on the
fast runner, ``share`` the part of the network's layers from that layer on, ``alpha`` fitted on the
layers measured (1 before any); a layer's set-up costs ``c + kappa * f`` (``f`` its fault's cost,
``kappa`` the share of the images its checks run on, ``c`` the build, fitted, a quarter of ``R``
but at least :data:`BUILD_FLOOR` before any); a golden pass, with whatever else a block of the fast
runner costs beyond its faults, costs what the last ones cost (``R`` before any). :func:`plan` picks, for
one block, the layers worth running fast.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import median

ALPHA_PRIOR = 1.0
"""A fault's fast run per unit of the network, against a whole inference, before any is measured."""
BUILD_PRIOR = 0.25
"""A layer's build (a session, a traced function), in units of ``R``, before any is measured: 0.1 to
0.3 s for ResNet20's suffixes on ONNX Runtime and Keras, against 0.3 to 1 s per inference of 500
images on 2 cores."""
BUILD_FLOOR = 0.05
"""Seconds a layer's build takes at least, before any is measured: a session or a traced function
takes tens of milliseconds however small the network (5 to 20 ms for the demo model's suffixes on
ONNX Runtime, 100 ms and more on Keras)."""
GOLDEN_PRIOR = 1.0
"""A golden pass, in units of ``R``, before any is measured."""


def layer_shares(layers: Sequence[str]) -> dict[str, float]:
    """Each layer's part of the network from it on, counted in layers: what the prior of
    :class:`CostModel` takes a fault of it to cost on a fast runner, in units of a whole inference.

    >>> layer_shares(["a", "b", "c", "d"])
    {'a': 1.0, 'b': 0.75, 'c': 0.5, 'd': 0.25}
    """
    return {name: (len(layers) - i) / len(layers) for i, name in enumerate(layers)}


@dataclass(frozen=True)
class Structure:
    """How a fast runner spends its time beyond the faults themselves.

    ``per_layer`` says whether it builds and checks something per layer; ``check_share`` is the
    share of the images those checks run on (the first and last batch of the layout).
    """

    per_layer: bool
    check_share: float = 0.0


@dataclass
class Measured:
    """Seconds measured so far in one campaign: reference faults, fast faults by layer, the set-up
    of groups of layers (seconds, the layers new in it), and golden passes of fast blocks."""

    reference: list[float] = field(default_factory=list)
    fast: dict[str, list[float]] = field(default_factory=dict)
    setups: list[tuple[float, list[str]]] = field(default_factory=list)
    golden: list[float] = field(default_factory=list)


class CostModel:
    """Predicted seconds of one fault on each path, of a layer's set-up and of a golden pass.

    Parameters
    ----------
    layers
        The network's layers in order (the engine's layer table).
    structure
        The fast runner's structure.
    measured
        The measurements, read again at every prediction; at least one reference fault.

    Examples
    --------
    >>> m = Measured(reference=[1.0])
    >>> model = CostModel(["a", "b", "c", "d"], Structure(per_layer=True, check_share=0.5), m)
    >>> model.per_fault("a"), model.per_fault("d"), model.setup("d"), model.golden()
    (1.0, 0.25, 0.375, 1.0)
    >>> m.fast["d"] = [0.125]
    >>> model.alpha(), model.per_fault("c")
    (0.5, 0.25)
    """

    def __init__(self, layers: Sequence[str], structure: Structure, measured: Measured) -> None:
        self.structure = structure
        self.measured = measured
        self._share = layer_shares(layers)

    def reference(self) -> float:
        """Seconds of one fault on the reference loop (the median of those measured)."""
        return median(self.measured.reference)

    def alpha(self) -> float:
        """A fast fault's cost per unit of the network against a whole inference, fitted on the
        layers measured (a ratio of sums, so cheap last layers do not dominate)."""
        if not self.measured.fast:
            return ALPHA_PRIOR
        expected = sum(self.reference() * self._share[layer] for layer in self.measured.fast)
        return sum(median(s) for s in self.measured.fast.values()) / max(expected, 1e-12)

    def per_fault(self, layer: str) -> float:
        """Seconds of one fault of ``layer`` on the fast runner."""
        if layer in self.measured.fast:
            return median(self.measured.fast[layer])
        return self.alpha() * self.reference() * self._share[layer]

    def build(self) -> float:
        """Seconds to build one layer's fast path, beyond its checks."""
        kappa, fits = self.structure.check_share, []
        for seconds, new in self.measured.setups:
            checks = kappa * (self.golden_pass() + sum(self.per_fault(layer) for layer in new))
            fits.append(max(0.0, seconds - checks) / len(new))
        return sum(fits) / len(fits) if fits else max(BUILD_PRIOR * self.reference(), BUILD_FLOOR)

    def setup(self, layer: str) -> float:
        """Seconds to set ``layer`` up on the fast runner, its share of the check pass aside."""
        if not self.structure.per_layer:
            return 0.0
        return self.build() + self.structure.check_share * self.per_fault(layer)

    def golden_pass(self) -> float:
        """Seconds of a golden pass over every image (the first one measured)."""
        return self.measured.golden[0] if self.measured.golden else GOLDEN_PRIOR * self.reference()

    def golden(self) -> float:
        """Seconds of the next block's golden pass: the median of those after the first (which a
        runner may keep for the next blocks), or the first."""
        later = self.measured.golden[1:]
        return median(later) if later else self.golden_pass()

    def overhead(self, new: bool) -> float:
        """Seconds a fast block costs beyond its faults and its new layers' set-ups: the golden
        pass, and the check pass over the first and last batch when it sets layers up."""
        checks = self.structure.check_share * self.golden_pass() if new and self.structure.per_layer else 0.0
        return self.golden() + checks


def gains(model: CostModel, in_block: Mapping[str, int], left: Mapping[str, int],
          ready: Collection[str]) -> dict[str, float]:
    """Seconds saved by running a block's faults of each layer fast, the layer's set-up spread over
    its ``left`` faults in the campaign; layers that save nothing are left out.

    ``in_block`` and ``left`` count the faults still to run (no-ops aside) in the block and in the
    campaign, by layer; ``ready`` holds the layers already set up.

    >>> model = CostModel(["a", "b"], Structure(per_layer=False), Measured(reference=[1.0]))
    >>> gains(model, {"a": 2, "b": 4}, {"a": 2, "b": 4}, set())  # a costs a whole inference fast too
    {'b': 2.0}
    """
    r = model.reference()
    out = {}
    for layer, k in in_block.items():
        setup = 0.0 if layer in ready else model.setup(layer)
        each = r - model.per_fault(layer) - setup / max(1, left[layer])
        if each > 0:
            out[layer] = k * each
    return out


def plan(model: CostModel, in_block: Mapping[str, int], left: Mapping[str, int],
         ready: Collection[str]) -> list[str]:
    """The layers of one block worth running fast: those that save time, when together they save
    more than the block's golden pass (and check pass, for layers not yet set up); else none.

    Examples
    --------
    >>> model = CostModel(["a", "b"], Structure(per_layer=False), Measured(reference=[1.0]))
    >>> plan(model, {"a": 5, "b": 5}, {"a": 5, "b": 5}, set())  # only b saves (0.5 s a fault)
    ['b']
    >>> plan(model, {"b": 1}, {"b": 1}, set())  # 0.5 s saved, 1 s of golden pass
    []
    """
    best: list[str] = []
    best_saved = 0.0
    every = gains(model, in_block, left, ready)
    for layers in (list(every), [layer for layer in every if layer in ready]):
        new = any(layer not in ready for layer in layers)
        saved = sum(every[layer] for layer in layers) - model.overhead(new)
        if layers and saved > best_saved:
            best, best_saved = layers, saved
    return best


def campaign_gain(model: CostModel, left: Mapping[str, int], ready: Collection[str], block: int) -> float:
    """Seconds the fast runner would save over the campaign's ``left`` faults, in blocks of
    ``block`` faults, each paying a golden pass.

    >>> model = CostModel(["a", "b"], Structure(per_layer=False), Measured(reference=[1.0]))
    >>> campaign_gain(model, {"a": 5, "b": 5}, set(), block=8)  # b: 5 x 0.5 s, one golden pass
    1.5
    """
    every = gains(model, left, left, ready)
    faults = sum(left[layer] for layer in every)
    return sum(every.values()) - model.overhead(True) - model.golden() * max(0, -(-faults // block) - 1)
