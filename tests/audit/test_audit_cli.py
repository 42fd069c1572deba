"""``readlx audit``: a verdict per file as text and JSON; the published lists' verdicts."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from readlx.audit import audit_file
from readlx.cli import main
from readlx.fault_maps import save_fault_list
from readlx.fault_maps.faultlist import FaultList

from .conftest import MODEL


def _write(fl: FaultList, path: Path) -> Path:
    save_fault_list(fl, path, format="paper-torch")
    return path


def test_the_cli_gives_a_verdict_per_file_and_json(tmp_path: Path, healthy: FaultList,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(healthy, tmp_path / "good_FL.csv")
    shifted = _write(healthy.with_published(np.roll(np.array(healthy.published), 1, axis=0)), tmp_path / "bad_FL.csv")
    broken = tmp_path / "broken_FL.csv"
    broken.write_text("Injection,Layer,TensorIndex,Bit,n_injections,masked,non_critical,critical\n0,conv1,x,3,1,1,0,0\n")
    out = tmp_path / "audit.json"
    assert main(["audit", str(good), str(shifted), str(broken), "--model", MODEL, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{good} (model {MODEL}, {len(healthy)} faults): OK" in text
    assert f"{shifted} (model {MODEL}, {len(healthy)} faults): SUSPICIOUS" in text
    assert "broken_FL.csv, line 2, field 'TensorIndex'" in text
    data = json.loads(out.read_text())
    assert [a["verdict"] for a in data["audits"]] == ["ok", "suspicious", "unreadable"]
    assert data["seed"] == 0 and data["permutations"] == 999
    checks = {f["check"]: f["status"] for f in data["audits"][1]["findings"]}
    assert checks["bit dependence"] == checks["exponent effect"] == checks["low bits"] == "suspicious"
    assert checks["counts add up"] == checks["the paper's generator"] == "ok"  # the faults are right, the counts not


def test_the_cli_refuses_bad_arguments_before_work(tmp_path: Path, healthy: FaultList,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    good = _write(healthy, tmp_path / "good_FL.csv")
    before = good.read_bytes()
    assert main(["audit", str(good), "-o", str(good)]) == 2
    assert "is also an input of this command" in capsys.readouterr().err
    assert main(["audit", str(good), "--permutations", "99"]) == 2
    assert "argument 'permutations'" in capsys.readouterr().err
    assert good.read_bytes() == before


def test_an_audit_is_reproducible_from_its_seed(tmp_path: Path, healthy: FaultList) -> None:
    good = _write(healthy, tmp_path / "good_FL.csv")
    assert audit_file(good, MODEL, seed=3).as_dict() == audit_file(good, MODEL, seed=3).as_dict()


EXPECTED = {  # what the audit finds in the suite's published lists with counts, and why
    "GoogLeNet_FL.csv": {"bit dependence", "exponent effect", "low bits"},
    "Mobilenetv2_FL.csv": {"bit dependence", "exponent effect", "low bits"},
    "DenseNet121_GTSRB_FL.csv": {"counts add up"},
    "ResNet20_FL.csv": {"the paper's generator"},  # row 2 edited upstream: bit 30 where the generator draws 13
}


@pytest.mark.slow
@pytest.mark.data
def test_the_published_lists(shared_data: Path) -> None:
    paths = sorted((shared_data / "dnn-benchmarks" / "torch").rglob("*_FL.csv"))
    audits = {p.name: audit_file(p) for p in paths}
    with_counts = {name: a for name, a in audits.items() if a.counts}
    assert len(with_counts) == 13 and not any(a.error for a in audits.values())
    for name, a in with_counts.items():
        assert a.model is not None, name
        assert {f.check for f in a.suspicious()} == EXPECTED.get(name, set()), name
    resnet20 = {f.check: f for f in with_counts["ResNet20_FL.csv"].findings}
    assert resnet20["weight dependence"].status == "ok" and resnet20["weight dependence"].evidence["spearman_r"] > 0.5
    assert resnet20["the paper's generator"].evidence["differing_rows"] == 1


@pytest.mark.slow
@pytest.mark.data
def test_spot_faults_of_resnet20_agree_with_their_published_counts(shared_data: Path) -> None:
    path = shared_data / "dnn-benchmarks/torch/gpu/image_classification/CIFAR10/fp32/resnet/ResNet20_FL.csv"
    spot = audit_file(path, spot=2).findings[-1]
    assert spot.check == "spot faults" and spot.status == "ok", spot
    assert len(spot.evidence["faults"]) == 2 and spot.evidence["median_sdc1_gap"] <= 0.001
    googlenet = shared_data / "dnn-benchmarks/torch/gpu/image_classification/CIFAR10/fp32/googlenet/GoogLeNet_FL.csv"
    skipped = audit_file(googlenet, spot=2).findings[-1]  # no weights: never run on a seeded initialization
    assert skipped.status == "skipped" and "no published weights" in skipped.statistic
