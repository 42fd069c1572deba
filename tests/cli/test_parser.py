from __future__ import annotations

import subprocess
import sys

import pytest

from readlx._version import __version__
from readlx.cli import build_parser, main

COMMANDS = ["zoo", "zoo list", "zoo show", "faults", "faults generate", "faults import", "faults show", "run",
            "convert", "merge", "report", "plan", "diff", "numerics", "numerics study", "numerics explain", "demo"]


def test_top_level_help_lists_every_command_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "{zoo,faults,run,resume,convert,merge,report,audit,plan,diff,numerics,demo}" in capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([*command.split(), "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: readlx {command}")


def test_each_command_sets_its_function() -> None:
    parser = build_parser()
    assert parser.parse_args(["merge", "a.nc", "-o", "b.nc"]).func.__module__ == "readlx.cli.run"
    assert parser.parse_args(["numerics", "explain", "r.nc", "--published", "p.csv"]).func.__name__ == \
        "cmd_numerics_explain"
    assert parser.parse_args(["numerics", "democnn-synthetic10"]).func.__name__ == "cmd_numerics"
    assert parser.parse_args(["demo"]).func.__module__ == "readlx.cli.demo"


def test_building_the_parser_loads_no_framework() -> None:
    code = ("import sys; from readlx.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'tensorflow', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_usage_error_of_numerics_explain(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["numerics", "explain"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: readlx numerics explain") and "required: MODEL|RESULT, --published" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"readlx {__version__}\n"


def test_the_readme_numerics_commands_parse_as_written() -> None:
    parser = build_parser()
    study = parser.parse_args("numerics resnet20-cifar10 -o num/".split())
    assert (study.numerics_command, study.model, study.out, study.images) == ("study", "resnet20-cifar10", "num/", 1000)
    explain = parser.parse_args("numerics explain r.nc --published ResNet20_FL.csv".split())
    assert (explain.numerics_command, explain.result, explain.published) == ("explain", "r.nc", "ResNet20_FL.csv")


def test_numerics_implies_study_before_options_too() -> None:
    parser = build_parser()
    args = parser.parse_args(["numerics", "--images", "all", "--campaign-images", "8", "democnn-synthetic10"])
    assert (args.numerics_command, args.model, args.images, args.campaign_images) == \
        ("study", "democnn-synthetic10", None, 8)
    assert vars(parser.parse_args(["numerics", "study", "m"])) == vars(parser.parse_args(["numerics", "m"]))


def test_numerics_help_lists_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["numerics", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "{study,explain}" in out and "is short for `readlx numerics study MODEL ...`" in out
