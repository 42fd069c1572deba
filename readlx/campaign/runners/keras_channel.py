"""A weight fault's Keras ``Conv2D`` computed for the output channel the fault can change.

The channel is the layer's own computation (:meth:`Conv2D.convolution_op`, the bias added and the
activation applied as ``Conv2D.call`` does) on the one filter ``kernel[..., o:o+1]``, read from the
layer's variables as they are, so inside an injection it is the faulty filter. TensorFlow 2.15 on CPU
summed one filter in the order of the whole layer on every ResNet20 convolution tried, but that is a
property of the kernels it picks, so the check of
:class:`readlx.campaign.runners.cut_channel.ChannelCutRunner` runs on every layer and batch length.

A linear ``Conv2D`` read only by a ``BatchNormalization`` (:func:`batch_norm_after`) is computed
*through* it, as Grappler fuses the two in the whole model: the convolution and the normalization's
``fused_batch_norm`` on a group of :data:`PACKET` filters and their normalization parameters, the
channel taken from the group. One filter is not enough there: the fused kernel computes each channel's
scale in vector registers, a lone channel in scalar code, and on ResNet20 (TensorFlow 2.15, AVX2) about
half of the lone channels differed in the last bit while every aligned group of 8 matched.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from readlx._tensorflow import LazyTensorFlow
from readlx._typing import Array

tf: Any = LazyTensorFlow()  # imported on first use


FUSED_READERS = ("BatchNormalization",)
"""Keras layers that TensorFlow fuses with a ``Conv2D`` they read."""

PACKET = 8
"""Filters computed together through a fused ``BatchNormalization``: float32 lanes of an AVX register,
aligned as in the whole layer (``[8k, 8k + 8)``)."""


def batch_norm_after(layer: Any, readers: list[Any]) -> Any | None:
    """The ``BatchNormalization`` that ``layer``'s output channels can be computed through, or ``None``.

    It is the only reader (``readers`` holds one entry per node of the model that reads ``layer``, so a
    normalization called twice on it is two) of a linear ``Conv2D``, in inference as Keras 2.15 calls a
    fused normalization of the last axis: the pattern Grappler fuses into one operation. The number of
    nodes of the layers themselves is not looked at: Keras adds one to every layer of each model built
    from intermediate tensors, as the suffixes are.

    >>> conv, bn = tf.keras.layers.Conv2D(4, 3), tf.keras.layers.BatchNormalization()
    >>> _ = bn(conv(tf.keras.Input((5, 5, 2))))
    >>> batch_norm_after(conv, [bn]) is bn, batch_norm_after(conv, [bn, bn])
    (True, None)
    """
    if len(readers) != 1 or type(readers[0]) is not tf.keras.layers.BatchNormalization:
        return None
    bn = readers[0]
    plain = (bn.fused and not bn.renorm and bn.virtual_batch_size is None and bn.adjustment is None
             and list(bn.axis) == [3])
    linear = layer.activation is None or layer.activation is tf.keras.activations.linear
    return bn if plain and linear else None


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
        if any(c.__name__ in fused for c in type(reader).__mro__) and batch_norm_after(layer, readers) is None:
            return f"read by a {type(reader).__name__}, which TensorFlow fuses with it, not as its only reader " \
                   f"after a linear convolution"
    return None


def reader_positions(nodes: list[Any], position: int) -> list[int]:
    """Positions of the nodes after ``nodes[position]`` that read one of its outputs."""
    made = {id(t) for t in tf.nest.flatten(nodes[position].outputs)}
    return [i for i in range(position + 1, len(nodes)) if any(id(t) in made for t in nodes[i].keras_inputs)]


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
    """Per ``Conv2D``, ``tf.function`` s of its output channel ``o`` alone, from its variables as they are.

    The filters are sliced inside the function, so one call runs one graph: the variables are read
    there as they are at the call (corrupted inside an injection), and ``o`` is an argument, not a
    constant that would trace a graph per channel.
    """

    def __init__(self, device: str) -> None:
        self.device = device
        self._functions: dict[tuple[int, bool], Any] = {}

    def channel(self, layer: Any, x: Any, o: int, bn: Any = None) -> Array:
        """Output channel ``o`` of ``layer`` on ``x`` (NHWC, channel axis kept), on the host; through
        the ``BatchNormalization`` ``bn`` where given (:func:`batch_norm_after`).

        >>> conv = tf.keras.layers.Conv2D(3, 3, use_bias=True, activation="relu")
        >>> x = tf.random.normal((2, 5, 5, 2))
        >>> full = conv(x).numpy()
        >>> bool(np.array_equal(ChannelFunctions("/CPU:0").channel(conv, x, 1), full[..., 1:2]))
        True
        """
        with tf.device(self.device):
            return np.asarray(self._function(layer, bn, (x,))(x, tf.constant(o, tf.int32)), np.float32)

    def replaced(self, layer: Any, x: Any, golden: Any, o: int, bn: Any = None) -> tuple[Array, Any]:
        """Channel ``o`` as :meth:`channel` computes it, and ``golden`` (the output, through ``bn``
        where given) with that channel in its place, made in the same call and left on the device.

        >>> conv = tf.keras.layers.Conv2D(3, 3)
        >>> conv.build((None, 5, 5, 2))
        >>> x = tf.random.normal((2, 5, 5, 2))
        >>> alone, out = ChannelFunctions("/CPU:0").replaced(conv, x, tf.zeros((2, 3, 3, 3)), 2)
        >>> bool(np.array_equal(out.numpy()[..., 2:], alone)), float(abs(out.numpy()[..., :2]).max())
        (True, 0.0)
        """
        with tf.device(self.device):
            alone, out = self._function(layer, bn, (x, golden))(x, tf.constant(o, tf.int32), golden)
        return np.asarray(alone, np.float32), out

    def _function(self, layer: Any, bn: Any, tensors: tuple[Any, ...]) -> Any:
        """The function of ``layer`` taking ``tensors`` (the input, and the golden output when it
        replaces), traced once for any batch length: a signature with a free batch axis, not a trace
        per batch length (the last batch is shorter) and another one relaxed from them."""
        replacing = len(tensors) == 2
        key = (id(layer), replacing)
        function = self._functions.get(key)
        if function is None:
            def alone(x: Any, o: Any) -> Any:
                lo = o if bn is None else o // PACKET * PACKET
                hi = o + 1 if bn is None else tf.minimum(lo + PACKET, int(layer.filters))
                bias = layer.bias[lo:hi] if layer.use_bias else tf.zeros((hi - lo,))
                y = (_filter_call(layer, x, layer.kernel[..., lo:hi], bias) if bn is None else
                     _normalized_call(layer, bn, x, layer.kernel[..., lo:hi], bias, *_norm_parameters(bn, lo, hi)))
                return y[..., o - lo : o - lo + 1]

            def replace(x: Any, o: Any, golden: Any) -> Any:
                y = alone(x, o)
                return y, tf.concat([golden[..., :o], y, golden[..., o + 1 :]], axis=-1)

            x_spec, *golden_spec = (tf.TensorSpec((None, *t.shape[1:]), t.dtype) for t in tensors)
            signature = [x_spec, tf.TensorSpec((), tf.int32), *golden_spec]
            function = self._functions[key] = tf.function(replace if replacing else alone,
                                                          input_signature=signature, autograph=False)
        return function


def _filter_call(layer: Any, x: Any, w: Any, b: Any) -> Any:
    """``Conv2D.call`` of Keras 2.15 with the filters ``w`` and biases ``b`` in place of the layer's."""
    y = layer.convolution_op(x, w)
    if layer.use_bias:
        y = tf.nn.bias_add(y, b, data_format="NHWC")
    return layer.activation(y) if layer.activation is not None else y


def _norm_parameters(bn: Any, lo: int, hi: int) -> tuple[Any, ...]:
    """Scale, offset, mean and variance of channels ``lo:hi`` of ``bn``, as Keras 2.15 hands them to
    ``fused_batch_norm`` (ones and zeros where it has no scale or no offset)."""
    gamma = bn.gamma[lo:hi] if bn.scale else tf.ones((hi - lo,))
    beta = bn.beta[lo:hi] if bn.center else tf.zeros((hi - lo,))
    return gamma, beta, bn.moving_mean[lo:hi], bn.moving_variance[lo:hi]


def _normalized_call(layer: Any, bn: Any, x: Any, w: Any, b: Any, gamma: Any, beta: Any, mean: Any,
                     variance: Any) -> Any:
    """:func:`_filter_call` then the inference of ``bn`` (fused, as Keras 2.15 runs it) on its channels."""
    y = _filter_call(layer, x, w, b)
    return tf.compat.v1.nn.fused_batch_norm(y, gamma, beta, mean=mean, variance=variance, epsilon=bn.epsilon,
                                            is_training=False, data_format="NHWC")[0]
