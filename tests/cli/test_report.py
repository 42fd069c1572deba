"""``readlx report``: what ``--published`` needs, said when the result cannot be compared; ``-o DIR``."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from readlx.cli import main
from readlx.fault_maps import generate, load_fault_list, save_fault_list
from readlx.fault_maps.faultlist import FaultList
from readlx.results import read_netcdf
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"
IMAGES = 16


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FaultList]:
    """A 16-image campaign on the demo model and the fault list it ran."""
    tmp = tmp_path_factory.mktemp("report")
    fl = generate(ZOO[MODEL].layer_table(), margin=0.3, mode="network-wise", seed=1)
    faults = tmp / "faults.csv"
    save_fault_list(fl, faults)
    out = tmp / "r.nc"
    assert main(["run", MODEL, "--faults", str(faults), "--images", str(IMAGES), "-o", str(out)]) == 0
    return out, load_fault_list(faults)


def _published(fl: FaultList, n_images: int, path: Path) -> Path:
    counts = np.zeros((len(fl), 4), np.int64)
    counts[:, 0] = counts[:, 1] = n_images
    save_fault_list(fl.with_published(counts), path, format="paper-torch")
    return path


def test_published_counts_over_other_images_say_what_would_compare(
        result: tuple[Path, FaultList], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, fl = result
    ref = _published(fl, 10000, tmp_path / "M_FL.csv")
    capsys.readouterr()
    assert main(["report", str(out), "--published", str(ref)]) == 2
    err = capsys.readouterr().err
    assert f"the result ran {IMAGES} images per fault, the published counts in {ref} are over 10000" in err
    assert "Rerun it without --images" in err and f"readlx run {MODEL} --faults {ref} --sample" in err
    assert "leave out --published" in err


def test_faults_missing_from_the_published_list_are_named(
        result: tuple[Path, FaultList], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, fl = result
    ref = _published(fl.subset(range(3)), IMAGES, tmp_path / "few_FL.csv")
    capsys.readouterr()
    assert main(["report", str(out), "--published", str(ref)]) == 2
    err = capsys.readouterr().err
    assert f"of the result's {len(fl)} faults" in err and f"--faults {ref}" in err


def test_a_list_without_counts_is_refused_with_what_it_lacks(
        result: tuple[Path, FaultList], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, fl = result
    plain = tmp_path / "plain_FL.csv"
    save_fault_list(fl, plain, format="paper-torch")
    capsys.readouterr()
    assert main(["report", str(out), "--published", str(plain)]) == 2
    assert "holds no published outcome counts" in capsys.readouterr().err


def test_out_writes_the_figures_and_the_html_page(result: tuple[Path, FaultList], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, fl = result
    ref = _published(fl, IMAGES, tmp_path / "same_FL.csv")
    assert main(["report", str(out), "--published", str(ref), "-o", str(tmp_path / "rep")]) == 0
    text = capsys.readouterr().out
    assert "compared with the published counts" in text
    assert (tmp_path / "rep" / "report.html").stat().st_size > 1000
    assert list((tmp_path / "rep").glob("*.png"))
    assert read_netcdf(out).sizes["fault"] == len(fl)
