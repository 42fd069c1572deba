"""GTSRB final test set reader, on tiny files written in the official layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from readlx.data.gtsrb import (
    COLUMNS,
    GT_FILE,
    GTSRB_NORMALIZATION,
    IMAGES_DIR,
    find_ground_truth,
    read_gtsrb,
    read_gtsrb_pixels,
)
from readlx.data.imageset import Normalization
from readlx.data.suite_loaders import register_suite_datasets
from readlx.errors import InputError, ReadlxError
from readlx.registry import Registry

HEADER = ";".join(COLUMNS)
SIZES = ((53, 54), (31, 40), (64, 60))
CLASSES = (16, 1, 42)


def _image(k: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(k)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _row(name: str, size: tuple[int, int], class_id: int) -> str:
    w, h = size
    return f"{name};{w};{h};5;5;{w - 5};{h - 5};{class_id}"


@pytest.fixture
def gtsrb(tmp_path: Path) -> Path:
    """``GTSRB/`` with three .ppm images and the ground truth beside ``Final_Test``."""
    root = tmp_path / "GTSRB"
    (root / IMAGES_DIR).mkdir(parents=True)
    rows = [HEADER]
    for k, (size, class_id) in enumerate(zip(SIZES, CLASSES, strict=True)):
        name = f"{k:05d}.ppm"
        _image(k, size).save(root / IMAGES_DIR / name)
        rows.append(_row(name, size, class_id))
    (root / GT_FILE).write_text("\r\n".join(rows) + "\r\n")  # the official file has CRLF endings
    return root


def _rewrite(root: Path, line: int, text: str) -> None:
    path = root / GT_FILE
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def test_reads_in_csv_order_resized_bilinear(gtsrb: Path) -> None:
    pixels, labels = read_gtsrb_pixels(gtsrb)
    assert pixels.shape == (3, 3, 50, 50) and pixels.dtype == np.uint8
    assert labels.tolist() == list(CLASSES)
    expected = np.asarray(_image(1, SIZES[1]).resize((50, 50), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.array_equal(pixels[1], expected)


def test_normalization_default_and_override(gtsrb: Path) -> None:
    pixels, _ = read_gtsrb_pixels(gtsrb)
    s = read_gtsrb(gtsrb)
    assert s.name == "gtsrb" and len(s.classes) == 43 and s.images.dtype == np.float32
    assert np.array_equal(s.images, GTSRB_NORMALIZATION.apply(pixels))
    plain = read_gtsrb(gtsrb, Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)), size=20)
    assert plain.images.shape == (3, 3, 20, 20) and 0.0 <= plain.images.min() <= plain.images.max() <= 1.0


def test_ground_truth_beside_the_images(gtsrb: Path) -> None:
    (gtsrb / GT_FILE).rename(gtsrb / IMAGES_DIR / GT_FILE)
    assert find_ground_truth(gtsrb) == gtsrb / IMAGES_DIR / GT_FILE
    assert read_gtsrb_pixels(gtsrb)[1].tolist() == list(CLASSES)


def test_missing_ground_truth(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="GTSRB ground truth not found.*GT-final_test.csv"):
        read_gtsrb(tmp_path)


@pytest.mark.parametrize(
    ("line", "text", "match"),
    [
        (1, "Filename;Width;Height;ClassId", r"line 1: header is 'Filename;Width;Height;ClassId', expected"),
        (2, "00000.ppm;53;54;6;5;48;49", r"line 2: 7 fields"),
        (3, "00001.ppm;31;forty;5;5;26;35;1", r"line 3, field 'Height': expected an integer, got 'forty'"),
        (3, "00001.ppm;31;40;5;5;26;35;43", r"line 3, field 'ClassId': class 43 is not in 0..42"),
        (3, "../00001.ppm;31;40;5;5;26;35;1", r"line 3, field 'Filename': expected a bare file name"),
        (4, "00002.ppm;65;60;5;5;59;55;42", r"line 4, field 'Width': Width is 65 but '00002.ppm' is 64x60"),
        (4, "00009.ppm;64;60;5;5;59;55;42", r"line 4, field 'Filename': image '.*00009.ppm' not found"),
    ],
)
def test_malformed_ground_truth(gtsrb: Path, line: int, text: str, match: str) -> None:
    _rewrite(gtsrb, line, text)
    with pytest.raises(InputError, match=match) as info:
        read_gtsrb(gtsrb)
    assert info.value.path == str(gtsrb / GT_FILE) and info.value.line == line


def test_undecodable_image_and_empty_list(gtsrb: Path) -> None:
    (gtsrb / IMAGES_DIR / "00001.ppm").write_bytes(b"P6 not really")
    with pytest.raises(InputError, match=r"line 3, field 'Filename': image .* cannot be decoded"):
        read_gtsrb(gtsrb)
    (gtsrb / GT_FILE).write_text(HEADER + "\n\n")
    with pytest.raises(InputError, match="no images listed"):
        read_gtsrb(gtsrb)
    (gtsrb / GT_FILE).write_text("")
    with pytest.raises(InputError, match=r"line 1: header is '\(empty file\)'"):
        read_gtsrb(gtsrb)


def test_dataset_entry(gtsrb: Path) -> None:
    datasets: Registry = Registry("dataset")
    register_suite_datasets(datasets)
    entry = datasets["gtsrb"]
    assert entry.default_dir == "GTSRB"
    assert entry.read(gtsrb, None).labels.tolist() == list(CLASSES)
    with pytest.raises(ReadlxError, match="dataset 'gtsrb' needs its directory"):
        entry.read(None, None)
