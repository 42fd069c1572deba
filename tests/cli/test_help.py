"""The command line's conventions: help on every option, defaults shown, one name per concept, ``-o``
wherever a command writes, shard numbering."""
from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest

from readlx.cli import build_parser, main
from readlx.cli.parser import HelpFormatter
from readlx.cli.run import parse_shard

WRITERS = {  # every command that writes a file or directory, with its other required arguments
    "demo": [],
    "faults generate": ["m"],
    "faults import": ["f.csv", "--model", "m"],
    "run": ["m"],
    "convert": ["m"],
    "merge": ["a.nc"],
    "report": ["r.nc"],
    "numerics study": ["m"],
}


def _parsers(parser: argparse.ArgumentParser, name: str = "readlx") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def _subcommand_helps(parser: argparse.ArgumentParser) -> dict[str, str | None]:
    return {choice.dest: choice.help for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for choice in action._choices_actions}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _help(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    formatter = HelpFormatter(parser.prog)
    return " ".join(formatter._expand_help(action).split())


PARSERS = dict(_parsers(build_parser()))


def test_the_walk_finds_every_command() -> None:
    assert {"readlx zoo show", "readlx faults import", "readlx numerics explain", "readlx numerics study",
            "readlx run", "readlx merge", "readlx demo"} <= set(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_option_and_subcommand_has_help(name: str) -> None:
    parser = PARSERS[name]
    missing = [a.option_strings[-1] if a.option_strings else a.dest for a in _options(parser) if not a.help]
    assert not missing, f"{name}: options without help: {missing}"
    helpless = [sub for sub, text in _subcommand_helps(parser).items() if not text]
    assert not helpless, f"{name}: subcommands without help: {helpless}"


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_default_is_shown(name: str) -> None:
    parser = PARSERS[name]
    for action in _options(parser):
        if action.default is not None and action.default is not False and action.default != argparse.SUPPRESS:
            text = _help(action, parser)
            assert "default" in text, f"{name} {action.option_strings}: default {action.default!r} not in {text!r}"
    text = " ".join(parser.format_help().split())
    assert "(default: None)" not in text and "(default: False)" not in text


def test_defaults_are_the_values_parsed() -> None:
    text = _help(next(a for a in PARSERS["readlx run"]._actions if a.dest == "batch_size"), PARSERS["readlx run"])
    assert text == "images per inference (default: 256)"


@pytest.mark.parametrize("name", ["readlx run", "readlx demo"])
def test_frameworks_help_names_every_runtime(name: str) -> None:
    from readlx.engines import RUNTIMES

    parser = PARSERS[name]
    text = _help(next(a for a in parser._actions if a.dest == "frameworks"), parser)
    for runtime in [*RUNTIMES.choices(), *RUNTIMES.examples(), "onnxruntime-keras", "torch-mkldnn-off"]:
        assert runtime in text, f"{runtime} missing from {text!r}"


def test_numerics_variant_defaults_come_from_the_variants() -> None:
    from readlx.engines.variants import CAMPAIGN_VARIANTS, GOLDEN_VARIANTS

    parser = PARSERS["readlx numerics study"]
    helps = {a.dest: _help(a, parser) for a in parser._actions}
    assert ", ".join(GOLDEN_VARIANTS) in helps["variants"]
    assert ", ".join(CAMPAIGN_VARIANTS) in helps["campaign_variants"]


def test_weights_file_and_checkpoint_folder_are_named_apart() -> None:
    weights = [(name, _help(a, p)) for name, p in PARSERS.items() for a in p._actions if a.dest == "weights"]
    assert len(weights) >= 3
    for name, text in weights:
        assert "weights file" in text and "checkpoint" not in text, (name, text)
    run = PARSERS["readlx run"]
    helps = {a.dest: _help(a, run) for a in run._actions}
    assert "checkpoint folder" in helps["checkpoint"] and "checkpoint folder" in helps["resume"]
    top = " ".join(PARSERS["readlx"].format_help().split())
    assert "checkpoint" not in top.replace("checkpoint folder", "")  # only ever the resume folder


@pytest.mark.parametrize("command", sorted(WRITERS))
@pytest.mark.parametrize("flag", ["-o", "--out"])
def test_every_writing_command_takes_o(command: str, flag: str) -> None:
    args = build_parser().parse_args([*command.split(), *WRITERS[command], flag, "where"])
    assert args.out == "where"


def test_zoo_list_says_weights(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint" not in out and "published weights" in out


@pytest.mark.parametrize("text", ["0/8", "7/8", " 3/8", "0/1"])
def test_shards_count_from_zero(text: str) -> None:
    assert parse_shard(text) == text.strip()
    assert build_parser().parse_args(["run", "m", "--shard", text]).shard == text.strip()


@pytest.mark.parametrize(("text", "message"), [
    ("8/8", "shards count from 0: use 0/8 .. 7/8, got '8/8'"),
    ("2/2", "shards count from 0: use 0/2 .. 1/2, got '2/2'"),
    ("1/0", "the number of shards must be at least 1, got '1/0'"),
    ("3", "expected I/N, shard I of N counted from 0 (e.g. 0/8 .. 7/8), got '3'"),
    ("-1/2", "expected I/N"),
    ("a/b", "expected I/N"),
])
def test_a_shard_out_of_range_says_how_they_count(text: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "m", f"--shard={text}"])
    assert exit_.value.code == 2
    assert f"argument --shard: {message}" in capsys.readouterr().err


def test_the_shard_help_says_they_count_from_zero() -> None:
    run = PARSERS["readlx run"]
    text = _help(next(a for a in run._actions if a.dest == "shard"), run)
    assert "counted from 0" in text and "0/8 .. 7/8" in text


def test_help_of_commands_without_runtimes_loads_no_framework() -> None:
    code = ("import sys, contextlib, io; from readlx.cli import main\n"
            "for cmd in (['--help'], ['zoo', 'show', '-h'], ['faults', 'import', '-h'], ['report', '-h']):\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(cmd)\n"
            "print(sorted(m for m in ('torch', 'tensorflow', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_run_modes_are_the_campaign_modes(capsys: pytest.CaptureFixture[str]) -> None:
    from readlx.campaign.loop import MODES

    run = PARSERS["readlx run"]
    assert next(a for a in run._actions if a.dest == "mode").choices == MODES
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "{reference,fast,fast-always}" in text
    assert "fast-always: the fast runner wherever it can run" in text


def test_an_unknown_run_mode_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["run", "m", "--mode", "bogus"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "argument --mode: invalid choice: 'bogus'" in err
    assert "'reference', 'fast', 'fast-always'" in err
