"""The Engine protocol shared by every runtime.

An engine owns one model in one runtime and offers exactly what a campaign needs: run a fixed
batch layout over NCHW float32 images, read a canonical weight, and apply one fault inside a
context manager that restores the weight in ``finally``.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from readlx._typing import Array
from readlx.errors import FaultListError
from readlx.fault_maps.fault import Fault
from readlx.graph import LayerTable


@runtime_checkable
class Engine(Protocol):
    """What a campaign drives. ``framework`` is the value used on the Dataset's framework axis."""

    framework: str
    table: LayerTable
    batch_size: int

    def infer(self, images: Array, first_image: int = 0) -> Array:
        """Logits (or per-pixel scores) for ``images`` (N, C, H, W) float32.

        Images are split into consecutive batches of ``batch_size`` (the last one shorter), always the
        same way for the same N, so the golden and faulty passes share one batch layout.
        ``first_image`` is the index of ``images[0]`` in the campaign's image set: a transient fault
        draws each image's element and bit from it (:mod:`readlx.fault_maps.transient`).
        """

    def weight(self, layer: str) -> Array:
        """A copy of the stored float32 weight of canonical ``layer``, in canonical layout."""

    def inject(self, fault: Fault) -> AbstractContextManager[None]:
        """Context manager that applies ``fault`` and restores the exact stored bits on exit."""

    def layer_name(self, layer: str) -> str:
        """This runtime's name for canonical ``layer``."""

    def describe(self) -> dict[str, Any]:
        """Runtime, version, device and settings, recorded in the results."""


def batches(n: int, batch_size: int) -> list[slice]:
    """The fixed batch layout used by every engine.

    >>> batches(5, 2)
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    if batch_size < 1:
        from readlx.errors import ReadlxError

        raise ReadlxError(f"batch size must be >= 1, got {batch_size!r}")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def infer_rows(engine: Engine, images: Array, lo: int, hi: int, fault: Fault) -> Array:
    """``engine``'s outputs for images ``lo..hi-1`` of the campaign's ``images``, telling the engine
    where they start only for a transient fault (engines of earlier runtimes take the images alone)."""
    if fault.is_transient:
        return engine.infer(images[lo:hi], first_image=lo)
    return engine.infer(images[lo:hi])


def corrupt_element(array: Array, index: tuple[int, ...], fault: Fault) -> np.float32:
    """Corrupt one element of a float32 array in place; returns the original value."""
    original = np.float32(array[index])
    bits = array.view(np.uint32)
    bits[index] = fault.apply_bits(bits[index])
    return original


def corrupt_activation(array: Array, index: tuple[int, ...], fault: Fault) -> Array:
    """``array`` (a batch of one layer's outputs, batch axis first, float32) with element ``index``
    of every row corrupted by ``fault``'s bits; a new array, ``array`` is not changed.

    Raises :class:`readlx.errors.FaultListError` when ``index`` is not an element of one row or
    ``fault`` is transient.

    >>> out = corrupt_activation(np.ones((2, 3), np.float32), (1,), Fault("fc", (1,), 31, site="activation"))
    >>> out.tolist()
    [[1.0, -1.0, 1.0], [1.0, -1.0, 1.0]]
    """
    if fault.is_transient:
        raise FaultListError(f"{fault.describe()!r} draws its element per image: corrupt_rows applies its draws")
    check_activation_index(array.shape[1:], index, fault)
    out = np.array(array, dtype=np.float32, copy=True)
    bits = out.view(np.uint32)
    where: tuple[slice | int, ...] = (slice(None), *index)
    bits[where] = fault.apply_bits(bits[where])
    return out


def check_activation_index(shape: tuple[int, ...], index: tuple[int, ...], fault: Fault) -> None:
    """Raise :class:`readlx.errors.FaultListError` unless ``index`` addresses an element of ``shape``."""
    if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape, strict=False)):
        raise FaultListError(f"activation index {fault.index} is out of range for the output of layer "
                             f"{fault.layer!r} of shape {tuple(int(n) for n in shape)}", field="index")
