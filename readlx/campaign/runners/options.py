"""Settings and errors of the fast campaign path.

The settings change speed and memory only; outcomes are those of the reference loop whatever they
are (invariant 7 of docs/architecture.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from readlx.errors import FastPathError, FastUnsupported, ReadlxError

__all__ = ["FastOptions", "FastPathError", "FastUnsupported"]


@dataclass(frozen=True)
class FastOptions:
    """Knobs of the fast path.

    Parameters
    ----------
    checks
        Cuts after the faulty layer at which a batch is compared with golden, to stop when it is back
        to golden: the next cuts of the traced graph (PyTorch), or the cuts of the next layers (ONNX
        Runtime, Keras: :mod:`readlx.campaign.runners.cut`). On PyTorch, batches came back at the
        first one when they came back at all (all 12 that did, of 100 stratified ResNet20 faults on 2
        batches of 256 CIFAR-10 images), and a comparison costs about as much as a BatchNorm, so
        later cuts are not checked. On ONNX Runtime and Keras a second check stopped 1 batch more
        of 1,200 and cost 2-6 % (30 faults of ResNet20's published list x 10,000 images: 42.0 s
        against 41.3 s, 27.7 s against 26.0 s). Any number gives the same outcomes.
    cache_bytes
        Bound on the golden activations held at once; images are processed in chunks of whole
        batches that fit (at least one batch). It also bounds the predictions a block holds (a
        segmentation label map per image and fault), by running fewer faults per block. Rows pooled at
        cuts (``refill``, ``stack``) wait up to half of it, then run in batches filled up with golden rows.
    block_faults
        Faults run per pass over the images. Each block recomputes the golden activations once, and
        its results reach the caller (and a checkpoint) when the whole block is done.
    channel_only
        Whether a weight fault of a convolution or linear layer computes the one output channel it
        can change, alone, where a start-up check shows that exact
        (:mod:`readlx.campaign.runners.channel`, :mod:`readlx.campaign.runners.cut_channel`); ``None``,
        the default, leaves it to the runner (:meth:`channel_only_or`): on where it was measured to save
        time (PyTorch; ONNX Runtime, by 3 % on ResNet20's published mix), off where it was not (Keras:
        TensorFlow's CPU convolutions cost about as much for a few filters as for all of them).
    refill
        Whether rows of a faulty batch that are back to golden at the first check are retired, and
        the pending rows of all faults run together in batches of the reference size, where the
        operations and a start-up check show rows independent (PyTorch;
        :mod:`readlx.campaign.runners.refill`). Off by default: on a 2-core CPU it costs more than it
        saves (ResNet20, published mix: 14-29 % slower), since copying the pending rows' activations
        costs about what the retired rows' remaining layers would.
    stack
        Reference batches whose pooled rows run through the layers after a cut at once (PyTorch): the
        suffixes of several faults in one batch of ``stack`` times the batch size, where a start-up
        check shows those rows' outputs bitwise the ones of their own batches (:mod:`.refill`). Above 1
        it pools rows as ``refill`` does. ``None``, the default, leaves it to the runner
        (:meth:`stack_or`): 8 on a CUDA device, whose kernels a CIFAR-10 batch of 256 leaves mostly
        idle, 1 on a CPU, where a bigger batch costs as much per row.

    Examples
    --------
    >>> FastOptions(block_faults=32).block_faults
    32
    >>> FastOptions(cache_bytes=0)
    Traceback (most recent call last):
    ...
    readlx.errors.ReadlxError: cache_bytes must be >= 1, got 0
    """

    checks: int = 1
    cache_bytes: int = 1 << 29
    block_faults: int = 128
    channel_only: bool | None = None
    refill: bool = False
    stack: int | None = None

    def channel_only_or(self, default: bool) -> bool:
        """Whether channel-only runs are on, given the runner's ``default``.

        >>> FastOptions().channel_only_or(False), FastOptions(channel_only=True).channel_only_or(False)
        (False, True)
        """
        return default if self.channel_only is None else self.channel_only

    def stack_or(self, default: int) -> int:
        """Reference batches run at once after a cut, given the runner's ``default``.

        >>> FastOptions().stack_or(8), FastOptions(stack=2).stack_or(8)
        (8, 2)
        """
        return default if self.stack is None else self.stack

    def pools(self, default_stack: int) -> bool:
        """Whether rows are pooled at cuts (:mod:`.refill`): asked for, or stacked.

        >>> FastOptions().pools(1), FastOptions().pools(8), FastOptions(refill=True).pools(1)
        (False, True, True)
        """
        return self.refill or self.stack_or(default_stack) > 1

    def __post_init__(self) -> None:
        if self.channel_only not in (None, True, False):
            raise ReadlxError(f"channel_only must be True, False or None, got {self.channel_only!r}")
        if self.stack is not None and (not isinstance(self.stack, int) or self.stack < 1):
            raise ReadlxError(f"stack must be >= 1 or None, got {self.stack!r}")
        for name in ("checks", "cache_bytes", "block_faults"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ReadlxError(f"{name} must be >= 1, got {value!r}")
