"""A weight fault's Keras ``Conv2D`` computed for the output channel the fault can change.

The channel is the layer's own computation (:meth:`Conv2D.convolution_op`, the bias added and the
activation applied as ``Conv2D.call`` does) on the one filter ``kernel[..., o:o+1]``, read from the
layer's variables as they are, so inside an injection it is the faulty filter. TensorFlow 2.15 on CPU
summed one filter in the order of the whole layer on every ResNet20 convolution tried, but that is a
property of the kernels it picks, so the check of
:class:`readlx.campaign.runners.cut_channel.ChannelCutRunner` runs on every layer and batch length.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from readlx._tensorflow import LazyTensorFlow
from readlx._typing import Array

tf: Any = LazyTensorFlow()  # imported on first use


FUSED_READERS = ("BatchNormalization",)
"""Keras layers that TensorFlow fuses with a ``Conv2D`` they read."""


def refusal(layer: Any, variable: Any, span: tuple[int, int], readers: list[Any],
            fused: tuple[str, ...] = FUSED_READERS) -> str | None:
    """Why Keras ``layer`` (bound to ``variable``, called at the nodes ``span``, its output read by the
    layers ``readers``) cannot compute one output channel alone, or ``None``.

    A ``Conv2D`` read by a layer of a class named in ``fused`` is refused: Grappler fuses a convolution
    and a ``BatchNormalization`` into one operation, so the convolution's own output is not a value of
    the compiled graph, and asking for it changed the graph's arithmetic (every ResNet20 convolution
    after the first, on TensorFlow 2.15). Other fusions are caught when the probe misses golden.

    Examples
    --------
    >>> conv = tf.keras.layers.Conv2D(4, 3, groups=2)
    >>> conv.build((None, 5, 5, 2))
    >>> refusal(conv, conv.kernel, (3, 3), [])
    'a grouped convolution (groups=2)'
    """
    if type(layer) is not tf.keras.layers.Conv2D:
        return f"a {type(layer).__name__}, not a Conv2D"
    if variable is not layer.kernel:
        return "its weight is not the Conv2D's kernel"
    if span[0] != span[1]:
        return "the layer is called more than once"
    if layer.groups != 1:
        return f"a grouped convolution (groups={layer.groups})"
    if layer.data_format != "channels_last":
        return f"a convolution with data format {layer.data_format!r}"
    for reader in readers:
        if any(c.__name__ in fused for c in type(reader).__mro__):
            return f"read by a {type(reader).__name__}, which TensorFlow fuses with it"
    return None


def readers(nodes: list[Any], position: int) -> list[Any]:
    """The layers of the nodes after ``nodes[position]`` that read one of its outputs."""
    made = {id(t) for t in tf.nest.flatten(nodes[position].outputs)}
    return [node.layer for node in nodes[position + 1 :] if any(id(t) in made for t in node.keras_inputs)]


def live_after(nodes: list[Any], position: int) -> list[Any]:
    """The symbolic tensors made by ``nodes[:position + 1]`` and read by a later node, in order."""
    made = {id(t): t for node in nodes[: position + 1] for t in tf.nest.flatten(node.outputs)}
    live: dict[int, Any] = {}
    for node in nodes[position + 1 :]:
        for t in node.keras_inputs:
            if id(t) in made:
                live.setdefault(id(t), t)
    return list(live.values())


class ChannelFunctions:
    """One ``tf.function`` per ``Conv2D``: its output channel ``o`` alone, from its variables as they are."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._functions: dict[int, Any] = {}

    def channel(self, layer: Any, x: Any, o: int) -> Array:
        """Output channel ``o`` of ``layer`` on ``x`` (NHWC, channel axis kept), on the host.

        >>> conv = tf.keras.layers.Conv2D(3, 3, use_bias=True, activation="relu")
        >>> x = tf.random.normal((2, 5, 5, 2))
        >>> full = conv(x).numpy()
        >>> bool(np.array_equal(ChannelFunctions("/CPU:0").channel(conv, x, 1), full[..., 1:2]))
        True
        """
        function = self._functions.get(id(layer))
        if function is None:
            function = self._functions[id(layer)] = tf.function(
                lambda x, w, b: _filter_call(layer, x, w, b), reduce_retracing=True)
        with tf.device(self.device):
            bias = layer.bias[o : o + 1] if layer.use_bias else tf.zeros((1,))
            return np.asarray(function(x, layer.kernel[..., o : o + 1], bias), np.float32)


def _filter_call(layer: Any, x: Any, w: Any, b: Any) -> Any:
    """``Conv2D.call`` of Keras 2.15 with the filters ``w`` and biases ``b`` in place of the layer's."""
    y = layer.convolution_op(x, w)
    if layer.use_bias:
        y = tf.nn.bias_add(y, b, data_format="NHWC")
    return layer.activation(y) if layer.activation is not None else y
