from __future__ import annotations

import subprocess
import sys

import pytest

from readlx.cli import build_parser, main

COMMANDS = ["zoo", "zoo list", "zoo show", "faults", "faults generate", "faults import", "faults show", "run",
            "convert", "merge", "report", "numerics", "demo"]


def test_top_level_help_lists_every_command_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "{zoo,faults,run,convert,merge,report,numerics,demo}" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command.split(), "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: readlx {command}")


def test_each_command_sets_its_function() -> None:
    parser = build_parser()
    assert parser.parse_args(["merge", "a.nc", "-o", "b.nc"]).func.__module__ == "readlx.cli.run"
    assert parser.parse_args(["numerics", "explain"]).func.__module__ == "readlx.cli.numerics"
    assert parser.parse_args(["demo"]).func.__module__ == "readlx.cli.demo"


def test_building_the_parser_loads_no_framework() -> None:
    code = ("import sys; from readlx.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_usage_error_of_numerics_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["numerics", "explain"]) == 2
    assert capsys.readouterr().err == "readlx: error: usage: readlx numerics explain RESULT --published FILE\n"
