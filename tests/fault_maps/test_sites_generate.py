"""Fault lists of activation sites, multi-bit faults and the bit-wise mode: drawn, sized and written."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from readlx.cli import main
from readlx.errors import InputError
from readlx.fault_maps import generate, load_fault_list, sample_size
from readlx.fault_maps.fault import FaultKind, Site
from readlx.fault_maps.sites import activation_table, with_outputs
from readlx.graph import Layer, LayerTable
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"


@pytest.fixture(scope="module")
def table() -> LayerTable:
    return with_outputs(ZOO[MODEL].layer_table(), load_model(MODEL), ZOO[MODEL].input_shape)


def test_output_shapes_are_those_of_a_forward_pass(table: LayerTable) -> None:
    import torch

    model = load_model(MODEL).eval()
    seen = {}
    for name, module in model.named_modules():
        if name in table.names:
            module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:])))
    with torch.no_grad():
        model(torch.zeros((2, *ZOO[MODEL].input_shape)))
    assert table.outputs == seen and len(seen) == len(table)
    assert LayerTable.from_json(table.to_json()) == table  # the output shapes travel with the table


def test_activation_faults_address_output_elements(table: LayerTable) -> None:
    fl = generate(table, margin=0.05, mode="network-wise", site="activation", seed=3)
    sites = activation_table(table)
    per_image = sum(math.prod(table.outputs[name]) for name in table.names)
    assert fl.sampling is not None and fl.sampling.population == per_image * 32 * 2
    assert len(fl) == pytest.approx(sample_size(per_image * 64, 0.05, 0.99), abs=len(table))
    for fault in fl.faults:
        assert fault.site is Site.ACTIVATION and len(fault.index) == len(table.outputs[fault.layer])
        sites.check_fault(fault.__class__(fault.layer, fault.index, fault.bit))  # in the output's shape
        table.check_fault(fault)
    assert len(set(fl.faults)) == len(fl)
    assert fl.meta["site"] == "activation"


def test_an_activation_list_needs_the_output_shapes() -> None:
    with pytest.raises(InputError, match="output shape of layer 'conv1'"):
        generate(ZOO[MODEL].layer_table(), margin=0.05, site="activation")


def test_multi_bit_faults_are_adjacent_bits_from_a_drawn_lowest_one(table: LayerTable) -> None:
    fl = generate(table, margin=0.05, mode="network-wise", bits=3, kinds=("bit-flip", "stuck-at-0"), seed=1)
    assert {len(f.bits) for f in fl.faults} == {3}
    assert all(f.bits == tuple(range(f.bits[0], f.bits[0] + 3)) for f in fl.faults)
    assert max(f.top_bit for f in fl.faults) == 31 and min(f.bits[0] for f in fl.faults) == 0
    assert {f.kind for f in fl.faults} == {FaultKind.BIT_FLIP, FaultKind.STUCK_AT_0}
    assert fl.sampling is not None and fl.sampling.population == table.total_weights * 30 * 2


def test_bit_wise_mode_sizes_every_bit_as_its_own_population() -> None:
    table = LayerTable("m", (Layer("conv1", "conv", (4, 3, 3, 3)), Layer("fc", "linear", (10, 16))))
    fl = generate(table, margin=0.1, mode="bit-wise", seed=0)
    per_bit = sample_size(table.total_weights * 2, 0.1, 0.99)
    counts = [sum(1 for f in fl.faults if f.bit == b) for b in range(32)]
    assert all(abs(c - per_bit) <= len(table) for c in counts), counts
    assert len(set(fl.faults)) == len(fl)


def test_bits_out_of_range_are_refused(table: LayerTable) -> None:
    with pytest.raises(InputError, match="bits must be an integer in 1..32"):
        generate(table, bits=0)


def test_cli_generates_activation_faults_that_a_run_reads_back(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               table: LayerTable) -> None:
    out = tmp_path / "act.csv"
    assert main(["faults", "generate", MODEL, "--sites", "activations", "--kinds", "bit-flip,stuck-at-1",
                 "--bits", "2", "--mode", "network-wise", "--margin", "0.1", "-o", str(out)]) == 0
    assert "activation faults, 2 bits, bit-flip, stuck-at-1" in capsys.readouterr().out
    fl = load_fault_list(out, table)
    assert fl.faults and all(f.is_activation and len(f.bits) == 2 for f in fl.faults)
    header = next(line for line in out.read_text().splitlines() if not line.startswith("#"))
    assert header == "id,layer,index,bit,kind,site"


def test_cli_refuses_unknown_kinds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["faults", "generate", MODEL, "--kinds", "bit-flip,bit-flop", "-o", str(tmp_path / "x.csv")]) != 0
    err = capsys.readouterr().err
    assert "'bit-flip,bit-flop'" in err and "stuck-at-0" in err
    assert not (tmp_path / "x.csv").exists()
