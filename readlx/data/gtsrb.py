"""Reader for the official GTSRB final test set (German Traffic Sign Recognition Benchmark).

Layout (the official archives ``GTSRB_Final_Test_Images.zip`` and ``GTSRB_Final_Test_GT.zip``
unpacked into one directory, normally ``GTSRB/``)::

    GTSRB/Final_Test/Images/00000.ppm ... 12629.ppm
    GTSRB/GT-final_test.csv            (also accepted beside the images)

``GT-final_test.csv`` is semicolon-separated with the header
``Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId``; images are read in its row order.

Preprocessing, the suite's: the **whole** image (the ROI columns are checked, not used) is resized to
50x50 with PIL's ``Image.resize(..., Image.Resampling.BILINEAR)`` (PIL widens the bilinear filter
when shrinking, i.e. it antialiases; torchvision's ``Resize`` on a PIL image does the same), then
normalized with mean (0.3403, 0.3121, 0.3214) and std (0.2724, 0.2608, 0.2669).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from readlx._typing import Array
from readlx.data.imageset import ImageSet, Normalization
from readlx.errors import InputError

GTSRB_NORMALIZATION = Normalization((0.3403, 0.3121, 0.3214), (0.2724, 0.2608, 0.2669))
GTSRB_SIZE = 50
GTSRB_CLASSES = tuple(f"{k:05d}" for k in range(43))
"""Class names as the official training folders spell them (``00000`` ... ``00042``)."""
GT_FILE = "GT-final_test.csv"
IMAGES_DIR = Path("Final_Test", "Images")
COLUMNS = ("Filename", "Width", "Height", "Roi.X1", "Roi.Y1", "Roi.X2", "Roi.Y2", "ClassId")
_INT_COLUMNS = COLUMNS[1:]


@dataclass(frozen=True)
class GroundTruthRow:
    """One row of ``GT-final_test.csv`` and its line number (1 = header)."""

    line: int
    filename: str
    width: int
    height: int
    class_id: int


def find_ground_truth(root: str | Path) -> Path:
    """``GT-final_test.csv`` under ``root`` or beside the images; :class:`InputError` if neither."""
    root = Path(root)
    candidates = (root / GT_FILE, root / IMAGES_DIR / GT_FILE)
    for path in candidates:
        if path.is_file():
            return path
    raise InputError(
        f"GTSRB ground truth not found; looked for {', '.join(str(p) for p in candidates)}", path=root
    )


def read_ground_truth(path: str | Path) -> list[GroundTruthRow]:
    """Parse and check ``GT-final_test.csv``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d, GT_FILE)
    ...     _ = p.write_text(";".join(COLUMNS) + "\\n00000.ppm;53;54;6;5;48;49;16\\n")
    ...     read_ground_truth(p)[0].class_id
    16
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except FileNotFoundError as e:
        raise InputError("file not found", path=path) from e
    except UnicodeDecodeError as e:
        raise InputError(f"not a text CSV file: {e}", path=path) from e
    if not rows or tuple(cell.strip() for cell in rows[0]) != COLUMNS:
        found = ";".join(rows[0]) if rows else "(empty file)"
        raise InputError(f"header is {found!r}, expected {';'.join(COLUMNS)!r}", path=path, line=1)
    parsed = [
        _parse_row(cells, n, path)
        for n, cells in enumerate(rows[1:], start=2)
        if any(c.strip() for c in cells)
    ]
    if not parsed:
        raise InputError("no images listed", path=path)
    return parsed


def _parse_row(cells: list[str], line: int, path: Path) -> GroundTruthRow:
    if len(cells) != len(COLUMNS):
        raise InputError(f"{len(cells)} fields {cells!r}, expected {len(COLUMNS)}", path=path, line=line)
    values: dict[str, int] = {}
    for column, cell in zip(_INT_COLUMNS, cells[1:], strict=True):
        try:
            values[column] = int(cell.strip())
        except ValueError:
            raise InputError(
                f"expected an integer, got {cell!r}", path=path, line=line, field=column
            ) from None
    if not 0 <= values["ClassId"] < len(GTSRB_CLASSES):
        raise InputError(
            f"class {values['ClassId']!r} is not in 0..{len(GTSRB_CLASSES) - 1}",
            path=path, line=line, field="ClassId",
        )
    name = cells[0].strip()
    if not name or Path(name).name != name:
        raise InputError(
            f"expected a bare file name, got {cells[0]!r}", path=path, line=line, field="Filename"
        )
    return GroundTruthRow(line, name, values["Width"], values["Height"], values["ClassId"])


def _load_image(images: Path, row: GroundTruthRow, gt_path: Path, size: int) -> Array:
    file = images / row.filename
    where: dict[str, Any] = {"path": gt_path, "line": row.line, "field": "Filename"}
    try:
        with Image.open(file) as img:
            rgb = img.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"image {str(file)!r} not found", **where) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        # PIL reports a malformed header as any of these.
        raise InputError(f"image {str(file)!r} cannot be decoded: {e}", **where) from None
    for column, expected, actual in (("Width", row.width, rgb.width), ("Height", row.height, rgb.height)):
        if expected != actual:
            raise InputError(
                f"{column} is {expected} but {row.filename!r} is {rgb.width}x{rgb.height}",
                path=gt_path, line=row.line, field=column,
            )
    resized = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1)


def read_gtsrb_pixels(root: str | Path, size: int = GTSRB_SIZE) -> tuple[Array, Array]:
    """uint8 NCHW pixels (resized to ``size`` x ``size``) and int64 labels of the final test set."""
    root = Path(root)
    gt_path = find_ground_truth(root)
    rows = read_ground_truth(gt_path)
    images = root / IMAGES_DIR
    pixels = np.stack([_load_image(images, row, gt_path, size) for row in rows])
    return pixels, np.array([row.class_id for row in rows], dtype=np.int64)


def read_gtsrb(
    root: str | Path, normalization: Normalization | None = None, size: int = GTSRB_SIZE
) -> ImageSet:
    """The GTSRB final test set (12,630 images) as normalized float32 NCHW.

    Parameters
    ----------
    root
        The ``GTSRB`` directory (see the module docstring for the layout).
    normalization
        Defaults to :data:`GTSRB_NORMALIZATION`.
    size
        Side of the square the images are resized to (the suite's models take 50).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / IMAGES_DIR).mkdir(parents=True)
    ...     Image.new("RGB", (31, 29), (200, 30, 30)).save(Path(d) / IMAGES_DIR / "00000.ppm")
    ...     _ = (Path(d) / GT_FILE).write_text(";".join(COLUMNS) + "\\n00000.ppm;31;29;5;5;25;23;14\\n")
    ...     s = read_gtsrb(d)
    >>> s.images.shape, s.labels.tolist()
    ((1, 3, 50, 50), [14])
    """
    pixels, labels = read_gtsrb_pixels(root, size)
    norm = normalization or GTSRB_NORMALIZATION
    return ImageSet("gtsrb", norm.apply(pixels), labels, GTSRB_CLASSES, source=str(root))
