"""``readlx faults generate | import | show``: fault lists drawn, validated and summarized."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from readlx.cli import types
from readlx.fault_maps.formats import FORMATS, NATIVE, PAPER_TF
from readlx.fault_maps.generator import MODES
from readlx.fault_maps.sampling import PAPER_KINDS

if TYPE_CHECKING:  # pragma: no cover
    from readlx.campaign.inputs import Subject
    from readlx.fault_maps.faultlist import FaultList
    from readlx.graph import LayerTable

AUTO = "auto"
MODELS = "zoo model (see `readlx zoo list`), bundle directory, .onnx file or Keras model"
NAME_MAP = ("with --format paper-tf: PyTorch -> Keras layer names, a CSV with the header 'PT,TF' (default: the "
            "zoo model's published map, e.g. ResNet20_match of dnn-benchmarks-converter; a bundle's or Keras "
            "model's own Keras names)")


def _subject(model: str) -> Subject:
    from readlx.campaign.inputs import subject

    return subject(model)


def _table(model: str, fmt: str = AUTO, name_map: str | None = None) -> LayerTable:
    """The layer table of a zoo model, a bundle directory, an ONNX file or a Keras model; for
    ``paper-tf``, with the Keras bindings that translate the published TensorFlow lists' names."""
    s = _subject(model)
    if fmt != PAPER_TF.name:
        return s.artifact.table
    return _keras_table(s, name_map)


def _keras_table(s: Subject, name_map: str | None) -> LayerTable:
    from readlx.errors import ArgumentError
    from readlx.fault_maps import KERAS, read_match_file, with_keras_bindings

    table = s.artifact.table
    card = s.benchmark
    if name_map is None and card is not None and card.match_file is not None:
        name_map = str(card.resolve(card.match_file, "name map (PyTorch -> Keras layer names)"))
    if name_map is not None:
        # The published Keras models store depthwise convolutions as grouped Conv2D kernels.
        return with_keras_bindings(table, read_match_file(name_map), depthwise="conv")
    if KERAS in table.bindings:
        return table
    raise ArgumentError(f"{s.name!r} has no Keras layer names to read a TensorFlow fault list with: pass "
                        "--name-map FILE (a CSV 'PT,TF' of PyTorch module -> Keras layer names)",
                        argument="name-map")


def _load(args: argparse.Namespace, table: LayerTable | None) -> FaultList:
    """The fault list ``args.file``, with a hint at ``--format paper-tf`` when Keras names fail as PyTorch ones."""
    from readlx.errors import FaultListError
    from readlx.fault_maps import load_fault_list

    try:
        return load_fault_list(args.file, table, format=args.format)
    except FaultListError as e:
        if args.format != AUTO or e.field != "Layer" or "unknown layer" not in e.message:
            raise
        hint = "; a TensorFlow list (Keras layer names such as 'conv2d')? read it with --format paper-tf"
        raise FaultListError(e.message + hint, path=e.path, line=e.line, field=e.field) from e


def cmd_faults_generate(args: argparse.Namespace) -> int:
    from readlx.fault_maps import generate, save_fault_list
    from readlx.fault_maps.sites import parse_sites

    _claim(args, args.model, args.name_map)
    site = parse_sites(args.sites)
    kinds = _kinds(args.kinds)
    table = _table(args.model, args.format, args.name_map)
    if site.value != "weight":
        from readlx.campaign.inputs import table_with_outputs

        table = table_with_outputs(_subject(args.model))
    if args.transient is not None:
        return _generate_transient(args, table, site.value, kinds)
    args.mode = args.mode or "paper"
    fl = generate(table, margin=args.margin, confidence=args.confidence, p=args.p, seed=args.seed, mode=args.mode,
                  kinds=kinds, site=site, bits=args.bits, population_kinds=max(PAPER_KINDS, len(kinds)))
    save_fault_list(fl, args.out, format=args.format, table=table)
    s = fl.sampling
    assert s is not None  # a generated list records its sampling
    what = f"{site.value} faults, {args.bits} bit{'s' if args.bits > 1 else ''}, {', '.join(kinds)}"
    print(f"{len(fl)} faults for {args.model} ({what}; {s.mode}; population {s.population}, margin {s.margin}, "
          f"confidence {s.confidence}, seed {s.seed}) -> {args.out}")
    return 0


def _generate_transient(args: argparse.Namespace, table: LayerTable, site: str, kinds: list[str]) -> int:
    from readlx.errors import ArgumentError
    from readlx.fault_maps import save_fault_list
    from readlx.fault_maps.transient import TRANSIENT_MODES, transient_faults

    if site == "weight":
        raise ArgumentError("--transient faults are faults of layer outputs: add --sites activations (or "
                            "normalized)", argument="sites")
    if args.bits != 1:
        raise ArgumentError(f"a transient fault corrupts one drawn bit per image; --bits {args.bits} is for "
                            "permanent faults", argument="bits")
    if args.transient < 1:
        raise ArgumentError(f"--transient needs a positive number of faults, got {args.transient}",
                            argument="transient")
    args.mode = args.mode or TRANSIENT_MODES[0]
    if args.mode not in TRANSIENT_MODES:
        raise ArgumentError(f"--transient draws {' or '.join(TRANSIENT_MODES)}, got --mode {args.mode!r}",
                            argument="mode")
    fl = transient_faults(table, args.transient, seed=args.seed, mode=args.mode, kinds=kinds, site=site)
    save_fault_list(fl, args.out, format=args.format, table=table)
    scope = "for the network" if args.mode == "network-wise" else "per layer"
    print(f"{len(fl)} transient {site} faults for {args.model} ({args.transient} {scope}, {', '.join(kinds)}; "
          f"each image draws its element and bit; seed {args.seed}) -> {args.out}")
    return 0


def _claim(args: argparse.Namespace, *inputs: str | None) -> None:
    from readlx.outputs import claim

    claim(args.out, force=args.force, inputs=[p for p in inputs if p])


def _kinds(text: str) -> list[str]:
    from readlx.errors import ArgumentError
    from readlx.fault_maps.fault import FaultKind

    kinds = [k.strip() for k in text.split(",") if k.strip()]
    valid = [k.value for k in FaultKind]
    bad = [k for k in kinds if k not in valid]
    if bad or not kinds or len(set(kinds)) != len(kinds):
        raise ArgumentError(f"{text!r} is not a list of distinct fault kinds; valid: {', '.join(valid)}",
                            argument="kinds")
    return kinds


def cmd_faults_import(args: argparse.Namespace) -> int:
    from readlx.fault_maps import save_fault_list

    _claim(args, args.file, args.model, args.name_map)
    fl = _load(args, _table(args.model, args.format, args.name_map))
    save_fault_list(fl, args.out, format="readlx")
    how = " (Keras layer names translated)" if args.format == PAPER_TF.name else ""
    print(f"{len(fl)} faults of {args.file} validated against {args.model}{how} -> {args.out}")
    return 0


def cmd_faults_show(args: argparse.Namespace) -> int:
    from collections import Counter

    from readlx.fault_maps import csvrows

    if args.format == PAPER_TF.name and not args.model:
        from readlx.errors import ArgumentError

        raise ArgumentError("--format paper-tf needs --model: the Keras layer names are the model's", argument="model")
    table = _table(args.model, args.format, args.name_map) if args.model else None
    fl = _load(args, table)
    print(f"{args.file}: {len(fl)} faults of model {fl.model!r}"
          + (", with published outcome counts" if fl.published is not None else ""))
    if fl.sampling is not None:
        print(f"sampling: {fl.sampling}")
    kinds = Counter(f.kind.value for f in fl.faults)
    print("kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print("faults per layer:")
    for layer, n in Counter(f.layer for f in fl.faults).items():
        print(f"  {layer:28s} {n:6d}")
    sites = Counter(("transient " if f.is_transient else "") + f.site.value for f in fl.faults)
    print("sites: " + ", ".join(f"{k} {n}" for k, n in sorted(sites.items())))
    permanent = [f for f in fl.faults if not f.is_transient]  # a transient fault draws its bit per image
    if permanent:
        widths = Counter(len(f.bits) for f in permanent)
        print("bits per fault: " + ", ".join(f"{k}: {n}" for k, n in sorted(widths.items())))
        bits = Counter(f.top_bit for f in permanent)
        print("faults per (most significant) bit: " + " ".join(f"{b}:{bits.get(b, 0)}" for b in range(32)))
    drawn = Counter(csvrows.format_bits(f.bit) for f in fl.faults if f.is_transient)
    if drawn:
        print("transient faults per bit set drawn from: " + ", ".join(f"{k}: {n}" for k, n in sorted(drawn.items())))
    return 0


def _read_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default=AUTO, choices=(AUTO, *FORMATS),
                        help="format of FILE: auto (recognized from its first line: readlx or paper-torch), or "
                             "paper-tf for a published TensorFlow list (*_TF_FL.csv: Keras layer names and "
                             "layouts, translated to the model's; needs --model)")
    parser.add_argument("--name-map", metavar="FILE", help=NAME_MAP)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``faults generate``, ``faults import``, ``faults show``."""
    faults = sub.add_parser("faults", help="fault lists").add_subparsers(dest="faults_command", required=True)
    g = faults.add_parser("generate", help="draw a statistical fault list")
    g.add_argument("model", help=MODELS)
    g.add_argument("-o", "--out", required=True, metavar="FILE", help="fault list to write")
    g.add_argument("--force", action="store_true", help="replace an existing file")
    g.add_argument("--margin", type=types.share, default=0.01, help="error margin of the estimated outcome shares")
    g.add_argument("--confidence", type=types.share, default=0.99, help="confidence level of that margin")
    g.add_argument("--p", type=types.share, default=0.5, help="expected share of the outcome (0.5: the largest sample)")
    g.add_argument("--seed", type=types.seed, default=42, metavar="N", help="seed of the draw")
    g.add_argument("--mode", choices=MODES,
                   help="paper (default): the published generator, draw for draw (with the default margin, "
                        "confidence, p and seed it reproduces the published PyTorch lists); network-wise (default "
                        "with --transient): the same sizes per layer, drawn by numpy without replacement; "
                        "layer-wise: a sample size per layer; bit-wise: a sample size per bit position")
    g.add_argument("--sites", default="weights", choices=("weights", "activations", "normalized"),
                   help="where the faults are: weights (the layers' stored Conv/Linear weights), activations "
                        "(an element of a layer's output, (C, H, W) or (F,), corrupted in every image) or "
                        "normalized (an element of the output of the BatchNorm applied to a layer's output, for "
                        "the layers that have one)")
    g.add_argument("--kinds", default="bit-flip", metavar="LIST",
                   help="comma-separated fault kinds drawn among (bit-flip, stuck-at-0, stuck-at-1); the "
                        "population counts max(2, number of kinds) per bit, 2 as the published lists did")
    g.add_argument("--bits", type=types.count, default=1, metavar="K",
                   help="adjacent bits corrupted per fault (multi-bit faults for K > 1)")
    g.add_argument("--transient", type=int, metavar="R",
                   help="R transient activation faults (with --sites activations; --mode network-wise: R for the "
                        "network, layers drawn by output size; layer-wise: R per layer) instead of a statistical "
                        "list: each image's inference corrupts one element and bit of the layer's output, drawn "
                        "from the fault's seed and the image's index. F faults over N images make F x N "
                        "independent draws")
    g.add_argument("--format", default=NATIVE.name, choices=tuple(FORMATS),
                   help="format of the written list (paper-tf: Keras layer names and layouts)")
    g.add_argument("--name-map", metavar="FILE", help=NAME_MAP)
    g.set_defaults(func=cmd_faults_generate)
    i = faults.add_parser("import", help="validate a fault list (e.g. a published CSV) and save it in readlx's format")
    i.add_argument("file", metavar="FILE",
                   help="fault list to read (readlx, paper-torch *_FL.csv or paper-tf *_TF_FL.csv)")
    i.add_argument("--model", required=True, help=f"validate against this model: {MODELS}")
    i.add_argument("-o", "--out", required=True, metavar="FILE", help="fault list to write, in readlx's format")
    i.add_argument("--force", action="store_true", help="replace an existing file")
    _read_format(i)
    i.set_defaults(func=cmd_faults_import)
    s = faults.add_parser("show", help="summarize a fault list")
    s.add_argument("file", metavar="FILE", help="fault list to summarize")
    s.add_argument("--model", help=f"validate against this model: {MODELS}")
    _read_format(s)
    s.set_defaults(func=cmd_faults_show)

