"""Malformed fault lists: each refused with its file, line and field, never read as something else."""
from __future__ import annotations

from pathlib import Path

import pytest

from readlx.errors import FaultListError
from readlx.fault_maps import load_fault_list
from readlx.zoo import ZOO

MODEL = "democnn-synthetic10"
HEADER = "# readlx fault list v1\n# model: democnn-synthetic10\nid,layer,index,bit,kind\n"
ROW = '0,conv1,"(0, 2, 0, 1)",8,bit-flip\n'
SAMPLED = HEADER.replace("id,layer", "# sampling_population: 249856\n# sampling_sample_size: 2\n"
                         "# sampling_margin: 0.5\n# sampling_confidence: 0.99\n# sampling_p: 0.5\n"
                         "# sampling_t: 2.58\n# sampling_seed: 42\n# sampling_mode: network-wise\nid,layer")
ROW2 = '1,conv1,"(0, 2, 0, 0)",3,bit-flip\n'
PAPER = "Injection,Layer,TensorIndex,Bit,n_injections,masked,non_critical,critical\n"
PAPER_ROW = '0,conv1,"(0, 2, 0, 1)",8,10,4,6,0\n'

CASES = {
    "header only": (HEADER, 3, None, "no faults"),
    "paper header only": (PAPER, 1, None, "no faults"),
    "another model": (HEADER.replace(MODEL, "resnet20-cifar10") + ROW, 2, "model", "made for model"),
    "CR-only endings": ((HEADER + ROW).replace("\n", "\r"), 1, None, "carriage return"),
    "stray CR": (HEADER + ROW.replace(",8,", ",8\r,"), 4, None, "carriage return"),
    "arabic digits in id": (HEADER + ROW.replace("0,conv1", "٠,conv1"), 4, "id", "0..2**63-1"),
    "arabic digits in index": (HEADER + ROW.replace("(0, 2", "(٠, 2"), 4, "index", "tuple of non-negative"),
    "arabic digits in bit": (HEADER + ROW.replace(",8,", ",٨,"), 4, "bit", "bit"),
    "id of 10**23": (HEADER + ROW.replace("0,conv1", f"{10**23},conv1", 1), 4, "id", "0..2**63-1"),
    "index of 2**64": (HEADER + ROW.replace("(0, 2", f"({2**64}, 2"), 4, "index", "tuple of non-negative"),
    "count of 2**63": (PAPER + PAPER_ROW.replace(",10,4,", f",{2**63},4,"), 2, "n_injections", "0..2**63-1"),
    "count cut inside": (PAPER + PAPER_ROW.replace(",6,0\n", ",6,\n"), 2, "critical", "0..2**63-1"),
    "counts above n_injections": (PAPER + PAPER_ROW.replace(",4,6,0", ",4,6,1"), 2, "n_injections", "exceeds"),
    "shorter than its sample size": (SAMPLED + ROW, 4, "sampling_sample_size", "holds 2 faults but it has 1"),
    "longer than its sample size": (SAMPLED + ROW + ROW2 + ROW2.replace("1,", "2,", 1), 4, "sampling_sample_size",
                                    "it has 3"),
    "negative count": (PAPER + PAPER_ROW.replace(",4,6,", ",-4,6,"), 2, "masked", "0..2**63-1"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_list_is_refused_where_it_is_wrong(tmp_path: Path, case: str) -> None:
    text, line, field, message = CASES[case]
    path = tmp_path / "faults.csv"
    path.write_bytes(text.encode())
    before = path.read_bytes()
    with pytest.raises(FaultListError) as err:
        load_fault_list(path, ZOO[MODEL].layer_table())
    e = err.value
    assert (e.path, e.line, e.field) == (str(path), line, field), str(e)
    assert message in e.message, str(e)
    assert path.read_bytes() == before


def test_a_saved_subset_reads_back_and_is_refused_when_cut(tmp_path: Path) -> None:
    """A subset of a drawn list keeps its sampling record and says how many rows it holds."""
    from readlx.fault_maps import generate, save_fault_list

    table = ZOO[MODEL].layer_table()
    subset = generate(table, margin=0.2, mode="network-wise", seed=1).subset(range(5))
    path = tmp_path / "subset.csv"
    save_fault_list(subset, path)
    assert load_fault_list(path, table).faults == subset.faults
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # cut at a row boundary
    with pytest.raises(FaultListError) as err:
        load_fault_list(path, table)
    assert err.value.field == "sampling_rows" and "holds 5 faults but it has 4" in err.value.message


def test_a_valid_list_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "faults.csv"
    path.write_text(HEADER + ROW)
    assert len(load_fault_list(path, ZOO[MODEL].layer_table())) == 1
    path.write_text((HEADER + ROW).replace("\n", "\r\n"))
    assert len(load_fault_list(path, ZOO[MODEL].layer_table())) == 1
    path.write_text(SAMPLED + ROW + ROW2)
    assert load_fault_list(path, ZOO[MODEL].layer_table()).sampling.sample_size == 2  # type: ignore[union-attr]


COMMANDS = {
    "show": lambda path, out: ["faults", "show", str(path), "--model", MODEL],
    "import": lambda path, out: ["faults", "import", str(path), "--model", MODEL, "-o", str(out / "l.csv")],
    "run": lambda path, out: ["run", MODEL, "--faults", str(path), "--images", "4", "-o", str(out / "r.nc")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_every_command_reading_a_list_refuses_it(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                                 command: str) -> None:
    from readlx.cli import main

    text, line, _, message = CASES[case]
    path = tmp_path / "faults.csv"
    path.write_bytes(text.encode())
    out = tmp_path / "out"
    out.mkdir()
    assert main(COMMANDS[command](path, out)) == 2
    err = capsys.readouterr().err
    assert f"{path}, line {line}" in err and message in err, err
    assert list(out.iterdir()) == []
