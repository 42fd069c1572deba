"""The options of a ``readlx run``, kept in its checkpoint, so that ``readlx run --resume -o OUT`` or
``readlx resume OUT`` rebuilds the campaign from the checkpoint alone.

``invocation.json`` in the checkpoint directory holds every option that decides which campaign runs
(:data:`KEPT`). On ``--resume`` each option the command line leaves at its default takes the stored
value; one given on the command line wins, and the checkpoint's fingerprint then says whether it is
still the same campaign. The number of local Dask workers (``--workers``) is kept as a default too;
a scheduler's address (``--dask``) is not, so a run may be resumed on another cluster: a checkpoint
written on Dask (in chunks of faults) is resumed with ``--dask ADDRESS`` or ``--workers N``, one
written in a single process without either (:meth:`readlx.campaign.checkpoint.CheckpointDir.open`
says which).
"""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from readlx._version import __version__
from readlx.errors import ArgumentError, CheckpointError
from readlx.outputs import claim, make_dir, write_atomic

FILE = "invocation.json"
KEPT = ("model", "faults", "sample", "seed", "images", "data", "weights", "frameworks", "bundle", "batch_size",
        "per_image", "force_noop", "mode", "block_faults", "cache_mib", "refill", "stack", "threads", "device",
        "flush_seconds", "shard", "chunk", "workers", "out", "checkpoint", "until")


def checkpoint_of(out: str | Path, checkpoint: str | Path | None) -> Path:
    """The checkpoint directory of a run writing ``out``: ``checkpoint``, else ``OUT.partial``."""
    return Path(checkpoint) if checkpoint else Path(str(out) + ".partial")


def claim_outputs(args: argparse.Namespace, out: Path, checkpoint: Path) -> None:
    """Check a run's result file and checkpoint folder before any work (:func:`readlx.outputs.claim`):
    an existing result is replaced only with ``--force``, or by ``--resume`` of its own checkpoint
    (a run killed after writing it); neither may be one of the run's inputs."""
    inputs = [p for p in (getattr(args, k, None) for k in ("model", "faults", "weights", "bundle", "data"))
              if isinstance(p, str)]
    resuming = bool(args.resume) and (checkpoint / "meta.json").is_file()
    claim(out, force=bool(getattr(args, "force", False)) or resuming, inputs=inputs)
    claim(checkpoint, force=True, inputs=[*inputs, out], kind="dir")  # an earlier run's: --resume decides


def save(checkpoint: Path, args: argparse.Namespace) -> None:
    """Keep the options of a run starting afresh in ``checkpoint`` (created); an existing checkpoint's
    are never replaced."""
    path = checkpoint / FILE
    if path.exists() or (checkpoint / "meta.json").exists():
        return
    make_dir(checkpoint)
    options = {key: getattr(args, key, None) for key in KEPT}
    text = json.dumps({"readlx_version": __version__, "options": options}, indent=1, sort_keys=True)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def stored(checkpoint: Path) -> dict[str, Any]:
    """The options kept in ``checkpoint``.

    Raises
    ------
    CheckpointError
        When the directory holds no readable ``invocation.json``.
    """
    path = checkpoint / FILE
    if not path.is_file():
        raise CheckpointError("no campaign to resume here (invocation.json missing; was the run started by "
                              "`readlx run` with this output?)", path=checkpoint)
    try:
        options = json.loads(path.read_text())["options"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"unreadable: {e}", path=path) from e
    if not isinstance(options, dict):
        raise CheckpointError("'options' is not a mapping", path=path, field="options")
    return {key: options[key] for key in KEPT if key in options}


def resumed(args: argparse.Namespace, defaults: dict[str, Any]) -> argparse.Namespace:
    """``args`` of ``readlx run --resume`` with every option left at its default taken from the checkpoint."""
    if args.out is None:
        raise ArgumentError("--resume needs -o OUT, the result file of the run to continue", argument="--out")
    checkpoint = checkpoint_of(args.out, args.checkpoint)
    if not checkpoint.exists() and Path(args.out).is_file():
        from readlx.outputs import sweep

        for done in (args.out, checkpoint):  # a kill after the result's rename left these; the run is done
            sweep(done)
        raise CheckpointError(f"nothing to resume: {str(args.out)!r} is written and its checkpoint is gone, so the "
                              "run finished (pass --force without --resume to run it again)", path=checkpoint)
    if not (checkpoint / FILE).is_file() and args.model is not None:
        return args  # a checkpoint of an older readlx, or none yet: the command line says it all
    merged = vars(args).copy()
    for key, value in stored(checkpoint).items():
        if merged.get(key) == defaults.get(key):
            merged[key] = value
    return argparse.Namespace(**merged)


def resume_command(out: str | Path, checkpoint: str | Path | None) -> str:
    """The command that continues the run writing ``out``.

    >>> resume_command("runs/r 1.nc", None)
    "readlx run --resume -o 'runs/r 1.nc'"
    """
    words = ["readlx", "run", "--resume", "-o", str(out)]
    if checkpoint is not None:
        words += ["--checkpoint", str(checkpoint)]
    return shlex.join(words)
