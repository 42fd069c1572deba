"""Image sets from NumPy arrays in memory or in an ``.npz`` file (read without unpickling)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from readlx._typing import Array
from readlx.data.imageset import ImageSet
from readlx.errors import InputError

ARRAYS = ("images", "labels")
"""The arrays an ``.npz`` file holds: float32 N x C x H x W images, already normalized, and N labels."""


def from_arrays(images: Array, labels: Array, name: str = "arrays", source: str = "memory") -> ImageSet:
    """An image set of normalized float32 NCHW ``images`` and integer ``labels``.

    Examples
    --------
    >>> data = from_arrays(np.zeros((3, 1, 4, 4), np.float32), np.array([0, 2, 1]))
    >>> len(data), data.classes
    (3, ('0', '1', '2'))
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be a 1-D integer array, got {labels.dtype} with shape {labels.shape}",
                         path=source, field="labels")
    if labels.size and int(labels.min()) < 0:
        raise InputError(f"labels must be >= 0, got {int(labels.min())}", path=source, field="labels")
    n_classes = int(labels.max()) + 1 if labels.size else 0
    return ImageSet(name, images, labels, tuple(str(k) for k in range(n_classes)), source)


def read_npz(path: str | Path) -> ImageSet:
    """The image set held by an ``.npz`` file with arrays ``images`` and ``labels`` (see :data:`ARRAYS`).

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "d.npz")
    ...     np.savez(p, images=np.zeros((2, 3, 8, 8), np.float32), labels=np.array([1, 0]))
    ...     read_npz(p).images.shape
    (2, 3, 8, 8)
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such .npz file", path=path)
    arrays = _arrays(path)
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise InputError(f"the file has arrays {sorted(arrays)}, not {missing}", path=path, field=missing[0])
    return from_arrays(arrays["images"], arrays["labels"], name=path.stem, source=str(path))


def _arrays(path: Path) -> dict[str, Array]:
    """The ``images`` and ``labels`` arrays of the file (the names of any others, as empty arrays)."""
    try:
        with path.open("rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise InputError("holds a single array, not an .npz archive of images and labels", path=path)
            with loaded as z:
                return {k: np.array(z[k]) if k in ARRAYS else np.empty(0) for k in z.files}
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"not a readable .npz file: {e}", path=path) from e
    except ValueError as e:
        if isinstance(e, InputError):
            raise
        raise InputError(f"not a readable .npz file: {e}", path=path) from e
