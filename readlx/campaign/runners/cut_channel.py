"""Probe-and-suffix runners whose faulty convolution computes only the output channel a fault can change.

Why it is exact
---------------
A fault in filter ``o`` of a one-group convolution changes output channel ``o`` and nothing else, so the
faulty output is the golden output with channel ``o`` replaced (the argument of
:mod:`readlx.campaign.runners.channel`). A runtime computes that channel with the layer's own operation
on a slice of the filters (:meth:`ChannelCutRunner.channel_of`: ONNX Runtime on a pair of filters, Keras
on one) from the golden input at the layer's cut. Whether the slice is summed in the same order as
within the whole layer is a property of the runtime's kernels, so it is not assumed: before a layer's
faults run on a batch length not seen yet, its first, middle and last channels are computed this way
from a golden batch, with the golden weights, and compared with the golden output bit for bit. A layer
that differs, or is not a one-group convolution read once, computes the whole layer, and
:attr:`ChannelCutRunner.channel_whole` says why.

The faulty batch then restarts *after* the convolution, from the values live across the point right
after it (a cut of its own, :func:`after`, whose suffix and segments are checked like a layer's), the
convolution's output among them, with the layer's checks. When the channel is golden bit for bit, the
batch is golden from there on and nothing after the layer runs.

Exact is not always faster: a runtime whose convolutions cost about as much for a few filters as for
all of them (TensorFlow on CPU) says why in :attr:`ChannelCutRunner.channel_off`, and computes its
layers whole unless ``FastOptions(channel_only=True)`` asks for channels.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.campaign.runners.cut import ChunkValues, CutRunner, CutValues, same_bits
from readlx.campaign.runners.options import FastOptions
from readlx.engines.base import Engine
from readlx.fault_maps.fault import Fault
from readlx.outcomes.tasks import Task


@dataclass(frozen=True)
class ChannelConv:
    """A convolution whose faults may compute one channel: its input and output values (by name, both
    at cuts), its filters' output channels, and the axis of its output's channels."""

    input: str
    output: str
    channels: int
    axis: int


def after(layer: str) -> str:
    """The name of the point right after ``layer``'s convolution, as a cut of its own.

    >>> after("layer1.0.conv1")
    'layer1.0.conv1/out'
    """
    return f"{layer}/out"


def whole_because(off: str | None, cut: list[str], why: str | None) -> str | None:
    """Why a layer's faults compute the whole layer: channel-only runs are off (``off`` says why), no
    cut (its suffix is the whole graph), or the runtime's own reason ``why``; ``None`` when they may
    compute a channel alone.

    >>> whole_because(None, ["x"], None) is None, whole_because(None, [], None)
    (True, 'its suffix is the whole graph')
    """
    if off is not None:
        return off
    return "its suffix is the whole graph" if not cut else why


def channel_slice(t: Any, o: int, axis: int) -> Array:
    """Channel ``o`` of ``t`` along ``axis``, the axis kept (a view of a NumPy array).

    >>> channel_slice(np.arange(6).reshape(1, 2, 3), 1, -1).tolist()
    [[[1], [4]]]
    """
    a = np.asarray(t)
    index = [slice(None)] * a.ndim
    index[axis] = slice(o, o + 1)
    return a[tuple(index)]


class ChannelCutRunner(CutRunner):
    """Base of the probe-and-suffix runners with channel-only convolutions.

    Subclasses pass :class:`CutRunner`'s arguments, their cuts including those of :func:`after` for the
    layers of ``convs``, plus ``convs`` and ``channel_whole`` (the other layers, with why), and implement
    :meth:`channel_of` and :meth:`output_channel`.
    """

    channel_off: str | None = None
    """Why this runtime computes its layers whole unless ``FastOptions(channel_only=True)`` asks
    otherwise; ``None`` where channel-only runs are on by default."""

    @classmethod
    def channel_off_because(cls, options: FastOptions) -> str | None:
        """Why channel-only runs are off under ``options``, or ``None`` when they are on."""
        if options.channel_only is None:
            return cls.channel_off
        return None if options.channel_only else "channel-only runs are off"

    def __init__(self, engine: Engine, images: Array, golden: Array, options: FastOptions | None, task: Task,
                 cuts: dict[str, list[str]], image_bytes: dict[str, int | None], spans: dict[str, tuple[int, int]],
                 convs: dict[str, ChannelConv], channel_whole: dict[str, str]) -> None:
        super().__init__(engine, images, golden, options, task, cuts, image_bytes, spans)
        self.convs = convs
        self.channel_whole = channel_whole
        """Layers whose weight faults compute the whole layer, and why."""
        self.channel_checked: set[tuple[str, int]] = set()
        self.planned.update({after(layer): self.planned[layer] for layer in convs})

    @abstractmethod
    def channel_of(self, layer: str, x: Any, o: int) -> Array:
        """Output channel ``o`` of ``layer`` on its input ``x`` (axis kept, on the host) from the layer's
        weights as they are now (corrupted inside an injection)."""

    @abstractmethod
    def output_channel(self, fault: Fault) -> int:
        """The output channel that weight ``fault`` of a layer of :attr:`convs` can change."""

    def refuse(self, layer: str, why: str) -> None:
        """Compute ``layer`` whole from now on, for the reason ``why`` (the graphs from after its
        convolution go)."""
        self.convs.pop(layer, None)
        self.channel_whole[layer] = why
        self.suffix.pop(after(layer), None)
        for pair in [pair for pair in self.segment if pair[0] == after(layer)]:
            del self.segment[pair]

    def _with_checks(self, layers: list[str]) -> list[str]:
        """Also the points after the convolutions of ``layers`` that compute a channel alone."""
        return [*super()._with_checks(layers), *(after(layer) for layer in layers if layer in self.convs)]

    def _pairs(self, layer: str) -> list[tuple[str, str]]:
        pairs = super()._pairs(layer)
        return [*pairs, *super()._pairs(after(layer))] if layer in self.convs else pairs

    def prepare(self, group: list[str]) -> None:
        """Also check, once per batch length, that ``group``'s layers compute a channel alone bitwise and
        that their suffix after the convolution reproduces golden; a layer that does not computes whole."""
        self._probe_with_outputs(group)
        super().prepare(group)
        for layer in [layer for layer in group if layer in self.convs and after(layer) in self.whole]:
            self.whole.remove(after(layer))
            self.stats.whole_graph_layers.remove(after(layer))
            self.refuse(layer, "its suffix after the convolution misses golden")
        todo = [layer for layer in group if layer in self.convs and layer in self.suffix]
        for rows in (self.layout[:1] + self.layout[1:][-1:]) if todo else []:
            if all((layer, rows.stop - rows.start) in self.channel_checked for layer in todo):
                continue
            values = self._probe_values(self._names(group), rows)
            for layer in todo:
                if layer in self.convs and values is not None:
                    self.check_channels(layer, values)

    def _probe_with_outputs(self, group: list[str]) -> None:
        """Refuse those of ``group``'s convolutions whose output, made an output of the probe, makes it miss
        golden on the first batch: a graph optimizer (TensorFlow's Grappler) may fuse a convolution with
        the operations after it, and an output in between changes the arithmetic."""
        new = [layer for layer in group if layer in self.convs and not any(
            (layer, rows.stop - rows.start) in self.channel_checked for rows in self.layout)]
        if not new or self._probe_values(self._names(group), self.layout[0]) is not None:
            return
        plain = list(dict.fromkeys(n for layer in super()._with_checks(group) if layer not in self.whole
                                   for n in self.cuts[layer]))
        for layer in new:  # one at a time: which outputs change the arithmetic
            names = tuple(dict.fromkeys([*plain, *self.cuts[after(layer)]]))
            if self._probe_values(names, self.layout[0]) is None:
                self.refuse(layer, "the graph with its convolution's output as an output misses golden "
                                   "(the runtime optimizes it otherwise)")

    def check_channels(self, layer: str, values: CutValues) -> bool:
        """Check ``layer`` on one golden batch's ``values`` (golden weights), once per batch length:
        its first, middle and last channels computed alone equal the golden ones bit for bit, and so
        does the output rebuilt around each where the runtime rebuilds it (:meth:`channel_output`)."""
        conv = self.convs[layer]
        x, full = values[conv.input], values[conv.output]
        key = (layer, len(np.asarray(x)))
        if key in self.channel_checked:
            return True
        for o in sorted({0, conv.channels // 2, conv.channels - 1}):
            alone, out = self.channel_output(layer, values, o)
            if not same_bits(alone, channel_slice(full, o, conv.axis)):
                what = f"output channel {o} computed alone"
            elif out is not None and not same_bits(np.asarray(out), np.asarray(full)):
                what = f"the output rebuilt around channel {o}"
            else:
                continue
            self.refuse(layer, f"{what} differs from the whole layer's on a batch of {key[1]}")
            return False
        self.channel_checked.add(key)
        return True

    def _channel_ready(self, fault: Fault, goldens: ChunkValues) -> bool:
        layer = fault.layer
        return (not fault.is_activation and layer in self.convs and layer in self.suffix
                and after(layer) in self.suffix
                and all((layer, rows.stop - rows.start) in self.channel_checked for rows, _ in goldens))

    def run_channel(self, fault: Fault, values: CutValues, rows: slice) -> Array:
        """One faulty batch: the golden output of the convolution with the fault's channel replaced, run
        on from after it; the golden outputs when that channel is golden."""
        conv, o = self.convs[fault.layer], self.output_channel(fault)
        alone, out = self.channel_output(fault.layer, values, o)
        self.stats.channel_batches += 1
        golden = np.asarray(values[conv.output])
        if same_bits(alone, channel_slice(golden, o, conv.axis)):
            self.stats.stopped_batches += 1
            return self.golden[rows]
        if out is None:
            out = np.array(golden, copy=True)
            channel_slice(out, o, conv.axis)[...] = alone
        return self.run_checked(after(fault.layer), values, rows, {**values, conv.output: out})

    def channel_output(self, layer: str, values: CutValues, o: int) -> tuple[Array, Any | None]:
        """Output channel ``o`` of ``layer`` (:meth:`channel_of`, from the golden values of its cut) and,
        where the runtime makes it in the same call, the layer's output with that channel in place of
        the golden one's; ``None`` for the runner to make it on the host."""
        return self.channel_of(layer, values[self.convs[layer].input], o), None

    def _fault_chunk(self, fault: Fault, goldens: ChunkValues, lo: int, hi: int) -> Array:
        if self._channel_ready(fault, goldens):
            with self.engine.inject(fault):
                return np.concatenate([self.run_channel(fault, values, rows) for rows, values in goldens])
        return super()._fault_chunk(fault, goldens, lo, hi)

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        off = self.channel_off_because(self.options)
        out["channel_only"] = ("a weight fault of a one-group convolution computes its output channel alone "
                               "where its first, middle and last channels so are bitwise the layer's on each "
                               "batch shape, then runs on from after the convolution"
                               if off is None else f"off: {off}")
        return out
