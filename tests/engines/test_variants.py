from __future__ import annotations

import pytest

from readlx.engines.reference.engine import ReferenceEngine
from readlx.engines.torch import TorchEngine
from readlx.engines.torch_backends import TorchBackendEngine
from readlx.engines.variants import CAMPAIGN_VARIANTS, GOLDEN_VARIANTS, make_engine, parse_variant, split_variants
from readlx.errors import ReadlxError
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"


@pytest.mark.parametrize(("spec", "kind", "options"), [
    ("torch", "torch", {"mkldnn": True, "threads": None}),
    ("torch-mkldnn-off-threads1", "torch", {"mkldnn": False, "threads": 1}),
    ("reference-fft-bf16", "reference", {"algorithm": "fft", "arithmetic": "bf16", "overrides": {}}),
    ("reference-native-float32+layer3.*=tf32+linear=float32", "reference",
     {"algorithm": "native", "arithmetic": "float32", "overrides": {"layer3.*": "tf32", "linear": "float32"}}),
])
def test_parse_variant(spec: str, kind: str, options: dict) -> None:
    assert parse_variant(spec) == (kind, options)


@pytest.mark.parametrize("spec", ["keras", "reference-direct", "torch-mkldnn", "reference-direct-tf32+x"])
def test_unknown_variants_list_the_grammar(spec: str) -> None:
    with pytest.raises(ReadlxError, match=f"unknown numerical variant '{spec.replace('+', '.')}'; valid: torch"):
        parse_variant(spec)


def test_default_variant_lists_are_valid() -> None:
    assert split_variants(",".join(GOLDEN_VARIANTS)) == list(GOLDEN_VARIANTS)
    assert split_variants(",".join(CAMPAIGN_VARIANTS)) == list(CAMPAIGN_VARIANTS)
    with pytest.raises(ReadlxError, match="unique"):
        split_variants("torch,torch")
    with pytest.raises(ReadlxError, match="no variant"):
        split_variants(" , ")


def test_make_engine_builds_each_kind() -> None:
    model, table = load_model(MODEL), ZOO[MODEL].layer_table()
    assert type(make_engine("torch", model, table)) is TorchEngine
    assert isinstance(make_engine("torch-mkldnn-off", model, table), TorchBackendEngine)
    eng = make_engine("reference-winograd-tf32+conv3=float32", model, table, batch_size=4, reuse_golden=True)
    assert isinstance(eng, ReferenceEngine)
    assert eng.framework == "reference-winograd-tf32+conv3=float32"
    assert eng.plans["conv3"].arithmetic == "float32" and eng.describe()["reuse_golden"] is True
    with pytest.raises(ReadlxError, match="unknown arithmetic 'fp64'"):
        make_engine("reference-direct-fp64", model, table)
