"""``readlx faults import | show --format paper-tf``: published TensorFlow lists, Keras names translated."""
from __future__ import annotations

from pathlib import Path

import pytest

from readlx.cli import main
from readlx.fault_maps import FORMATS, generate, load_fault_list, with_keras_bindings, write_paper_tf
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"
KERAS_NAMES = {"conv1": "conv2d", "dwconv": "conv2d_1", "conv2": "conv2d_2", "conv3": "conv2d_3", "linear": "dense"}
TF_LIST = "dnn-benchmarks/tensorflow/gpu/image_classification/CIFAR10/fp32/resnet/ResNet20_TF_FL.csv"
TORCH_LIST = "dnn-benchmarks/torch/gpu/image_classification/CIFAR10/fp32/resnet/ResNet20_FL.csv"


@pytest.fixture
def tf_list(tmp_path: Path) -> tuple[Path, Path, list[object]]:
    """A TensorFlow fault list of the demo model (its name map beside it) and the faults it holds."""
    name_map = tmp_path / "DemoCNN_match"
    name_map.write_text("PT,TF\n" + "".join(f"{pt},{tf}\n" for pt, tf in KERAS_NAMES.items()))
    table = ZOO[MODEL].layer_table()
    fl = generate(table, margin=0.2, mode="network-wise", seed=3)
    path = tmp_path / "DemoCNN_TF_FL.csv"
    write_paper_tf(fl, path, with_keras_bindings(table, KERAS_NAMES, depthwise="conv"))
    return path, name_map, list(fl.faults)


def test_import_of_a_tf_list_translates_its_keras_names(tf_list: tuple[Path, Path, list[object]],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, name_map, faults = tf_list
    assert "conv2d_1" in path.read_text()
    out = tmp_path / "imported.csv"
    assert main(["faults", "import", str(path), "--model", MODEL, "--format", "paper-tf", "--name-map",
                 str(name_map), "-o", str(out)]) == 0
    assert "Keras layer names translated" in capsys.readouterr().out
    assert list(load_fault_list(out).faults) == faults
    assert main(["faults", "show", str(path), "--model", MODEL, "--format", "paper-tf", "--name-map",
                 str(name_map)]) == 0
    assert "dwconv" in capsys.readouterr().out


def test_a_tf_list_read_as_pytorch_points_at_paper_tf(tf_list: tuple[Path, Path, list[object]], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = tf_list
    assert main(["faults", "import", str(path), "--model", MODEL, "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "unknown layer 'conv2d'" in err and "--format paper-tf" in err


def test_paper_tf_without_keras_names_asks_for_a_name_map(tf_list: tuple[Path, Path, list[object]], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = tf_list
    assert main(["faults", "import", str(path), "--model", MODEL, "--format", "paper-tf",
                 "-o", str(tmp_path / "x.csv")]) == 2
    assert "pass --name-map FILE" in capsys.readouterr().err
    assert main(["faults", "show", str(path), "--format", "paper-tf"]) == 2
    assert "--format paper-tf needs --model" in capsys.readouterr().err


def test_format_choices_are_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["faults", "import", "--help"])
    out = capsys.readouterr().out
    assert "{" + ",".join(("auto", *FORMATS)) + "}" in out


def test_generate_writes_a_tf_list(tf_list: tuple[Path, Path, list[object]], tmp_path: Path) -> None:
    _, name_map, _ = tf_list
    out = tmp_path / "gen_TF_FL.csv"
    assert main(["faults", "generate", MODEL, "--margin", "0.2", "--format", "paper-tf", "--name-map",
                 str(name_map), "-o", str(out)]) == 0
    table = with_keras_bindings(ZOO[MODEL].layer_table(), KERAS_NAMES, depthwise="conv")
    assert load_fault_list(out, table, format="paper-tf").faults == generate(table, margin=0.2).faults


@pytest.mark.data
def test_import_of_the_published_resnet20_tf_list(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "r20.csv"
    assert main(["faults", "import", str(shared_data / TF_LIST), "--model", "resnet20-cifar10",
                 "--format", "paper-tf", "-o", str(out)]) == 0
    imported, torch_list = load_fault_list(out), load_fault_list(shared_data / TORCH_LIST)
    assert (imported.faults, imported.ids) == (torch_list.faults, torch_list.ids)
    assert len(imported) == 16627
