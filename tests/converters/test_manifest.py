"""A bundle runs only what its conversion wrote: every change after it is refused on load, by file."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from readlx.cli import main
from readlx.converters import Bundle, load_bundle
from readlx.converters.bundle import EQUIVALENCE, GRAPH, KEPT_FAILING, META
from readlx.converters.manifest import MANIFEST, write_manifest
from readlx.errors import InputError


@pytest.fixture()
def copy(demo_bundle: Bundle, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    shutil.copytree(demo_bundle.path, out, symlinks=True)
    load_bundle(out)  # a faithful copy loads
    return out


def _tamper_onnx_weight(root: Path) -> str:
    path = root / "model_torch.onnx"
    proto = onnx.load(str(path))
    init = next(i for i in proto.graph.initializer if len(i.dims) == 4)
    arr = onnx.numpy_helper.to_array(init).copy()
    arr.flat[0] += 1.0
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(path))
    return "model_torch.onnx"


def _tamper_bias(root: Path) -> str:
    path = root / "model_torch.onnx"
    proto = onnx.load(str(path))
    init = next(i for i in proto.graph.initializer if len(i.dims) == 1)
    arr = onnx.numpy_helper.to_array(init).copy()
    arr[0] = -arr[0] + 1
    init.CopyFrom(onnx.numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(path))
    return "model_torch.onnx"


def _swap_binding(root: Path) -> str:
    """conv1's faults would go into conv2's weight."""
    graph = json.loads((root / GRAPH).read_text())
    bindings = next(iter(graph["bindings"].values()))
    a, b = list(bindings)[:2]
    bindings[a], bindings[b] = bindings[b], bindings[a]
    (root / GRAPH).write_text(json.dumps(graph))
    return GRAPH


def _failed_report(root: Path) -> str:
    report = json.loads((root / EQUIVALENCE).read_text())
    report["runtimes"][0]["output"]["nonfinite_mismatch"] = 3
    (root / EQUIVALENCE).write_text(json.dumps(report))
    return EQUIVALENCE


def _other_weights(root: Path) -> str:
    with np.load(root / "torch_state_dict.npz") as z:
        state = {k: np.array(z[k]) for k in z.files}
    key = next(k for k, v in state.items() if v.ndim == 4)
    state[key] = state[key] * 0.5
    np.savez(root / "torch_state_dict.npz", **state)
    return "torch_state_dict.npz"


def _planted_module(root: Path) -> str:
    (root / "keras_savedmodel" / "json.py").write_text("raise SystemExit('ran')\n")
    return "keras_savedmodel/json.py"


def _removed(root: Path) -> str:
    (root / "model_keras.onnx").unlink()
    return "model_keras.onnx"


def _link(root: Path) -> str:
    (root / "conversion.log").unlink()
    (root / "conversion.log").symlink_to("/etc/hostname")
    return "conversion.log"


@pytest.mark.parametrize("tamper", [_tamper_onnx_weight, _tamper_bias, _swap_binding, _failed_report,
                                    _other_weights, _planted_module, _removed, _link])
def test_every_change_after_conversion_is_refused(copy: Path, tamper: Callable[[Path], str]) -> None:
    name = tamper(copy)
    with pytest.raises(InputError) as err:
        load_bundle(copy)
    assert str(copy / name) in str(err.value)


def test_a_campaign_on_a_tampered_bundle_stops_before_it_runs(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _tamper_onnx_weight(copy)
    out = copy.parent / "r.nc"
    assert main(["run", "democnn-synthetic10", "--frameworks", "torch,onnxruntime", "--bundle", str(copy),
                 "--images", "8", "--sample", "2", "-o", str(out)]) == 2
    assert "changed since the bundle was written" in capsys.readouterr().err and not out.exists()


def test_a_failed_check_runs_only_when_kept_on_purpose(copy: Path) -> None:
    _failed_report(copy)
    write_manifest(copy)  # rehashed: the report itself now says failed
    with pytest.raises(InputError, match="did not pass its equivalence check"):
        load_bundle(copy)
    meta = json.loads((copy / META).read_text())
    (copy / META).write_text(json.dumps({**meta, "equivalence": KEPT_FAILING}))
    write_manifest(copy)
    assert not load_bundle(copy).report.ok  # type: ignore[union-attr]


def test_a_bundle_without_manifest_is_refused(copy: Path) -> None:
    (copy / MANIFEST).unlink()
    with pytest.raises(InputError, match="no manifest.json"):
        load_bundle(copy)
