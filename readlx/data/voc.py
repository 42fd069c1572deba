"""Reader for the official PASCAL VOC 2012 segmentation validation set, and its in-memory type.

Layout (``VOCtrainval_11-May-2012.tar`` unpacked; ``root`` is ``VOCdevkit/VOC2012``)::

    JPEGImages/<id>.jpg
    SegmentationClass/<id>.png        palette PNG: pixel value = class index, 255 = boundary/ignore
    ImageSets/Segmentation/val.txt    one <id> per line (1,449 in the official split)

Preprocessing, the suite's: every image is resized to 520x520 with PIL bilinear resampling, its
label map with nearest neighbour (so labels stay labels), and the image is normalized with the
ImageNet mean and std. The aspect ratio is not kept. The whole split takes about 4.7 GB as float32;
``limit`` reads only the first images of the list.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from readlx._typing import Array
from readlx.data.imageset import Normalization
from readlx.errors import InputError

IMAGENET_NORMALIZATION = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
VOC_SIZE = 520
IGNORE_LABEL = 255
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
SPLIT_FILE = Path("ImageSets", "Segmentation", "val.txt")
IMAGES_DIR = "JPEGImages"
LABELS_DIR = "SegmentationClass"


@dataclass(frozen=True, eq=False)
class SegmentationSet:
    """Normalized float32 NCHW images with per-pixel labels (N, H, W).

    Labels are class indices in ``0 .. len(classes) - 1`` or :data:`IGNORE_LABEL`; they are kept as
    uint8 (a label map per image of the VOC split is 270 kB instead of 2 MB as int64).

    Examples
    --------
    >>> s = SegmentationSet("toy", np.zeros((2, 3, 4, 4), np.float32), np.zeros((2, 4, 4), np.uint8), ("bg",))
    >>> len(s), s.subset(1).labels.shape
    (2, (1, 4, 4))
    """

    name: str
    images: Array
    labels: Array
    classes: tuple[str, ...]
    source: str = "memory"
    ignore_label: int = IGNORE_LABEL

    def __post_init__(self) -> None:
        if self.images.dtype != np.float32 or self.images.ndim != 4:
            raise InputError(
                f"images must be float32 NCHW, got {self.images.dtype} with shape {self.images.shape}",
                path=self.source,
            )
        n, _, h, w = self.images.shape
        if self.labels.shape != (n, h, w) or not np.issubdtype(self.labels.dtype, np.integer):
            raise InputError(
                f"labels must be integer ({n}, {h}, {w}) to match the images, got {self.labels.dtype} "
                f"{self.labels.shape}",
                path=self.source,
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, n: int | None) -> SegmentationSet:
        """The first ``n`` images (all when ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise InputError(f"number of images must be >= 1, got {n!r}")
        return SegmentationSet(
            self.name, self.images[:n], self.labels[:n], self.classes, self.source, self.ignore_label
        )

    def digest(self) -> str:
        """sha256 of the normalized image bytes and the label maps: identifies the exact inputs."""
        h = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


def voc_palette() -> list[int]:
    """The official VOC colour map, 256 RGB triples flattened (the palette of the label PNGs).

    >>> voc_palette()[3:6], voc_palette()[3 * 255:]
    ([128, 0, 0], [224, 224, 192])
    """
    palette = []
    for k in range(256):
        rgb = [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((k >> (3 * bit + channel)) & 1) << (7 - bit)
        palette += rgb
    return palette


def read_split(path: str | Path) -> list[tuple[int, str]]:
    """``(line, id)`` of every image id in a VOC split file; blank lines are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise InputError("split file not found (expected the VOC2012 layout)", path=path) from e
    except UnicodeDecodeError as e:
        raise InputError(f"not a text file: {e}", path=path) from e
    ids = []
    for n, raw in enumerate(text.splitlines(), start=1):
        item = raw.strip()
        if not item:
            continue
        if len(item.split()) != 1 or Path(item).name != item:
            raise InputError(f"expected one image id, got {raw!r}", path=path, line=n, field="id")
        ids.append((n, item))
    if not ids:
        raise InputError("no image ids listed", path=path)
    return ids


def _open(file: Path, split: Path, line: int, what: str) -> Image.Image:
    where: dict[str, Any] = {"path": split, "line": line, "field": "id"}
    try:
        with Image.open(file) as img:
            img.load()
            return img
    except FileNotFoundError:
        raise InputError(f"{what} {str(file)!r} not found", **where) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        # PIL reports a malformed header as any of these.
        raise InputError(f"{what} {str(file)!r} cannot be decoded: {e}", **where) from None


def _label_map(png: Image.Image, file: Path, num_classes: int) -> Array:
    if png.mode not in ("P", "L"):
        raise InputError(
            f"label image mode is {png.mode!r}; expected a palette ('P') or grey ('L') PNG of class indices",
            path=file,
        )
    labels = np.asarray(png, dtype=np.uint8)
    present = np.unique(labels)
    bad = present[(present >= num_classes) & (present != IGNORE_LABEL)]
    if bad.size:
        raise InputError(
            f"label values {bad.tolist()} are not classes 0..{num_classes - 1} nor {IGNORE_LABEL} (ignored)",
            path=file,
        )
    return labels


def _load_pair(root: Path, split: Path, line: int, item: str, size: int) -> tuple[Array, Array]:
    jpg = root / IMAGES_DIR / f"{item}.jpg"
    png = root / LABELS_DIR / f"{item}.png"
    image = _open(jpg, split, line, "image").convert("RGB")
    label_img = _open(png, split, line, "label map")
    if label_img.size != image.size:
        raise InputError(f"label map is {label_img.size}, image {str(jpg)!r} is {image.size}", path=png)
    labels = Image.fromarray(_label_map(label_img, png, len(VOC_CLASSES)))
    pixels = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
    return pixels.transpose(2, 0, 1), np.asarray(labels.resize((size, size), Image.Resampling.NEAREST))


def read_voc_pixels(
    root: str | Path, size: int = VOC_SIZE, limit: int | None = None
) -> tuple[Array, Array]:
    """uint8 NCHW pixels and uint8 (N, H, W) label maps of the validation split, resized."""
    root = Path(root)
    split = root / SPLIT_FILE
    ids = read_split(split)[:limit]
    pairs = [_load_pair(root, split, line, item, size) for line, item in ids]
    return np.stack([p for p, _ in pairs]), np.stack([lab for _, lab in pairs])


def read_voc(
    root: str | Path,
    normalization: Normalization | None = None,
    size: int = VOC_SIZE,
    limit: int | None = None,
) -> SegmentationSet:
    """The PASCAL VOC 2012 segmentation validation set, normalized.

    Parameters
    ----------
    root
        The ``VOCdevkit/VOC2012`` directory.
    normalization
        Defaults to :data:`IMAGENET_NORMALIZATION`.
    size
        Side of the square images and label maps are resized to (the suite uses 520).
    limit
        Read only the first ``limit`` ids of ``val.txt``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     for sub in (IMAGES_DIR, LABELS_DIR, SPLIT_FILE.parent):
    ...         (Path(d) / sub).mkdir(parents=True)
    ...     Image.new("RGB", (12, 10), (9, 99, 199)).save(Path(d, IMAGES_DIR, "a.jpg"))
    ...     label = Image.new("P", (12, 10), 15)
    ...     label.putpalette(voc_palette())
    ...     label.save(Path(d, LABELS_DIR, "a.png"))
    ...     _ = Path(d, SPLIT_FILE).write_text("a\\n")
    ...     s = read_voc(d, size=8)
    >>> s.images.shape, s.labels.shape, int(s.labels.max())
    ((1, 3, 8, 8), (1, 8, 8), 15)
    """
    pixels, labels = read_voc_pixels(root, size, limit)
    norm = normalization or IMAGENET_NORMALIZATION
    return SegmentationSet("voc2012", norm.apply(pixels), labels, VOC_CLASSES, source=str(root))
