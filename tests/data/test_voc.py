"""PASCAL VOC 2012 segmentation reader, on tiny files written in the official layout."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from readlx.data.imageset import Normalization
from readlx.data.suite_loaders import register_suite_datasets
from readlx.data.voc import (
    IGNORE_LABEL,
    IMAGENET_NORMALIZATION,
    IMAGES_DIR,
    LABELS_DIR,
    SPLIT_FILE,
    VOC_CLASSES,
    SegmentationSet,
    read_split,
    read_voc,
    read_voc_pixels,
    voc_palette,
)
from readlx.errors import InputError, ReadlxError
from readlx.registry import Registry

IDS = ("2007_000033", "2007_000042", "2007_000061")
SIZES = ((20, 14), (11, 17), (16, 16))


def _labels(k: int, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    labels = np.zeros((h, w), np.uint8)
    labels[: h // 2, : w // 2] = 1 + k
    labels[h // 2 :, w // 2 :] = 20 - k
    labels[h // 2, :] = IGNORE_LABEL  # boundary pixels, as in the official maps
    return labels


def _save_labels(path: Path, labels: np.ndarray) -> None:
    img = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(labels).tobytes())
    img.putpalette(voc_palette())
    img.save(path)


@pytest.fixture
def voc(tmp_path: Path) -> Path:
    """``VOCdevkit/VOC2012`` with three image/label pairs listed in ``val.txt``."""
    root = tmp_path / "VOCdevkit" / "VOC2012"
    for sub in (IMAGES_DIR, LABELS_DIR, SPLIT_FILE.parent):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k, (item, (w, h)) in enumerate(zip(IDS, SIZES, strict=True)):
        pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / IMAGES_DIR / f"{item}.jpg")
        _save_labels(root / LABELS_DIR / f"{item}.png", _labels(k, (w, h)))
    (root / SPLIT_FILE).write_text("\n".join(IDS) + "\n\n")
    return root


def test_reads_resized_images_and_nearest_labels(voc: Path) -> None:
    pixels, labels = read_voc_pixels(voc, size=24)
    assert pixels.shape == (3, 3, 24, 24) and pixels.dtype == np.uint8
    assert labels.shape == (3, 24, 24) and labels.dtype == np.uint8
    for k, size in enumerate(SIZES):
        original = _labels(k, size)
        expected = np.asarray(Image.fromarray(original).resize((24, 24), Image.Resampling.NEAREST))
        assert np.array_equal(labels[k], expected)
        assert set(np.unique(labels[k])) <= set(np.unique(original))
        jpg = Image.open(voc / IMAGES_DIR / f"{IDS[k]}.jpg").convert("RGB")
        resized = np.asarray(jpg.resize((24, 24), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
        assert np.array_equal(pixels[k], resized)
    assert IGNORE_LABEL in labels


def test_default_size_normalization_and_limit(voc: Path) -> None:
    s = read_voc(voc, limit=2)
    assert isinstance(s, SegmentationSet) and s.name == "voc2012" and s.classes == VOC_CLASSES
    assert s.images.shape == (2, 3, 520, 520) and s.labels.shape == (2, 520, 520)
    pixels, _ = read_voc_pixels(voc, limit=2)
    assert np.array_equal(s.images, IMAGENET_NORMALIZATION.apply(pixels))
    plain = read_voc(voc, Normalization((0.0,) * 3, (1.0,) * 3), size=8)
    assert len(plain) == 3 and plain.images.max() <= 1.0


def test_segmentation_set_checks_subset_and_digest(voc: Path) -> None:
    s = read_voc(voc, size=8)
    assert len(s.subset(2)) == 2 and s.subset(None) is s and s.subset(5) is s
    assert s.subset(2).digest() != s.digest() == read_voc(voc, size=8).digest()
    with pytest.raises(InputError, match="must be >= 1"):
        s.subset(0)
    with pytest.raises(InputError, match="labels must be integer"):
        SegmentationSet("x", s.images, s.labels[:, :4], s.classes)
    with pytest.raises(InputError, match="float32 NCHW"):
        SegmentationSet("x", s.images.astype(np.float64), s.labels, s.classes)


def test_split_file_errors(voc: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="split file not found"):
        read_voc(tmp_path)
    split = voc / SPLIT_FILE
    split.write_text(f"{IDS[0]}\n{IDS[1]} extra\n")
    with pytest.raises(InputError, match=r"val.txt, line 2, field 'id': expected one image id"):
        read_split(split)
    split.write_text("\n \n")
    with pytest.raises(InputError, match="no image ids listed"):
        read_voc(voc)


def test_missing_or_broken_files_name_the_split_line(voc: Path) -> None:
    png = voc / LABELS_DIR / f"{IDS[1]}.png"
    png.unlink()
    missing = rf"val.txt, line 2, field 'id': label map '.*{IDS[1]}.png' not found"
    with pytest.raises(InputError, match=missing):
        read_voc(voc, size=8)
    _save_labels(png, _labels(1, SIZES[1]))
    (voc / IMAGES_DIR / f"{IDS[2]}.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(InputError, match=rf"line 3, field 'id': image '.*{IDS[2]}.jpg' cannot be decoded"):
        read_voc(voc, size=8)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.full((14, 20, 3), 3, np.uint8), "label image mode is 'RGB'"),
        (np.full((14, 20), 21, np.uint8), r"label values \[21\] are not classes 0..20 nor 255"),
        (np.zeros((15, 20), np.uint8), r"label map is \(20, 15\), image .* is \(20, 14\)"),
    ],
)
def test_bad_label_maps(voc: Path, labels: np.ndarray, match: str) -> None:
    path = voc / LABELS_DIR / f"{IDS[0]}.png"
    if labels.ndim == 3:
        Image.fromarray(labels).save(path)
    else:
        _save_labels(path, labels)
    with pytest.raises(InputError, match=match) as info:
        read_voc(voc, size=8)
    assert info.value.path == str(path)


def test_palette_is_the_official_colour_map() -> None:
    palette = np.array(voc_palette()).reshape(256, 3)
    assert palette[1].tolist() == [128, 0, 0] and palette[15].tolist() == [192, 128, 128]
    assert palette[255].tolist() == [224, 224, 192] and len({tuple(c) for c in palette}) == 256


def test_dataset_entry(voc: Path) -> None:
    datasets: Registry = Registry("dataset")
    register_suite_datasets(datasets)
    entry = datasets["voc2012"]
    assert entry.default_dir == "VOCdevkit/VOC2012"
    with pytest.raises(ReadlxError, match="dataset 'voc2012' needs its directory"):
        entry.read(None, None)
    assert entry.read(voc, None).labels.shape == (3, 520, 520)


def test_zoo_loads_only_the_first_images(voc: Path) -> None:
    from readlx.zoo import ZOO

    (voc / IMAGES_DIR / f"{IDS[2]}.jpg").write_bytes(b"not a jpeg")  # never decoded with a limit of 2
    s = ZOO["deeplabv3-resnet50-voc"].load_data(voc, limit=2)
    assert isinstance(s, SegmentationSet) and len(s) == 2
    with pytest.raises(InputError, match=IDS[2]):
        ZOO["deeplabv3-resnet50-voc"].load_data(voc)


@pytest.mark.slow
def test_segmentation_campaign_from_the_command_line(voc: Path, tmp_path: Path) -> None:
    from readlx.cli import main
    from readlx.results import read_netcdf

    faults = tmp_path / "fl.csv"
    from readlx.fault_maps.fault import Fault
    from readlx.fault_maps.faultlist import FaultList
    from readlx.fault_maps.io_native import write_native

    write_native(FaultList.from_faults("deeplabv3-resnet50-voc", (
        Fault("backbone.conv1", (0, 0, 0, 0), 30), Fault("classifier.4", (3, 7, 0, 0), 22),
        Fault("aux_classifier.4", (0, 0, 0, 0), 30))), faults)
    out = tmp_path / "seg.nc"
    assert main(["run", "deeplabv3-resnet50-voc", "--data", str(voc), "--images", "1", "--batch-size", "1",
                 "--faults", str(faults), "--per-image", "-o", str(out)]) == 0
    ds = read_netcdf(out).isel(model=0, framework=0)
    assert ds.attrs["classifier"] == "segmentation" and ds.sizes["fault"] == 3
    assert int(ds.masked[2]) == 1  # the auxiliary head is not run by inference
    assert 0.0 <= float(ds.golden_miou) <= 1.0 and np.isfinite(ds.faulty_pixel_accuracy.values).all()
