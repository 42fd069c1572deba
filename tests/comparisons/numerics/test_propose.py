"""``numerics explain MODEL``: from the weights and a published list alone, the plan that made the
counts is found, and its campaign reproduces them; shown on counts made by a known plan."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import readlx
from readlx.cli import main
from readlx.comparisons.numerics.propose import GPU_FACTS, propose_plan
from readlx.comparisons.numerics.study import canonical_weights
from readlx.fault_maps import generate, save_fault_list
from readlx.fault_maps.faultlist import FaultList
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
KNOWN = "reference-native-float32+conv3=tf32+conv2=bf16"
IMAGES = 64


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, FaultList]:
    """A list whose counts the known plan made, over the first 64 images, as a published CSV."""
    fl = generate(ZOO[MODEL].layer_table(), margin=0.08, mode="network-wise", seed=1)
    ds = readlx.run(MODEL, None, fl, frameworks=(KNOWN,), images=IMAGES, progress=False).isel(model=0, framework=0)
    counts = np.stack([np.full(len(fl), IMAGES), ds.masked.values, ds.non_critical.values, ds.critical.values], 1)
    listed = fl.with_published(counts)
    path = tmp_path_factory.mktemp("published") / "democnn_FL.csv"
    save_fault_list(listed, path, format="paper-torch")
    return path, listed


def test_the_plan_is_found_from_the_weights_and_the_counts_alone(published: tuple[Path, FaultList]) -> None:
    plan = propose_plan(published[1], canonical_weights(load_model(MODEL), ZOO[MODEL].layer_table()))
    assert plan.layers == {"conv2": "bf16", "conv3": "tf32"}
    assert plan.runtime() == "reference-native-float32+conv2=bf16+conv3=tf32"


def test_the_command_proposes_verifies_and_states_its_facts(published: tuple[Path, FaultList],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["numerics", "explain", MODEL, "--published", str(published[0]), "--sample", "40"]) == 0
    out = capsys.readouterr().out
    assert "proposed plan, from the weights and the published counts alone: conv2=bf16, conv3=tf32" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.startswith(("torch ", "reference-native"))}
    after = rows["reference-native-float32+conv2=bf16+conv3=tf32"]
    assert after == ["40", "100.0", "100.0", "100.0"]  # the plan reproduces every count
    assert float(rows["torch"][3]) < 100.0  # plain float32 does not
    for fact in GPU_FACTS:
        assert fact in " ".join(out.split())


def test_a_result_is_still_explained_as_before(tmp_path: Path, published: tuple[Path, FaultList],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    result = tmp_path / "variants.nc"
    faults = tmp_path / "faults.csv"
    save_fault_list(published[1].subset(range(30)), faults, format="paper-torch")
    assert main(["run", MODEL, "--faults", str(faults), "--images", str(IMAGES), "--frameworks", f"torch,{KNOWN}",
                 "-o", str(result)]) == 0
    capsys.readouterr()
    assert main(["numerics", "explain", str(result), "--published", str(published[0])]) == 0
    assert "per-layer agreement with the published counts" in capsys.readouterr().out
