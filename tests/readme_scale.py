"""How the README's commands are scaled down to test size, and which of them can run here.

Every ``readlx`` command of the README's ``sh`` blocks is run as written, with these changes only:

- ``--images``, ``--campaign-images``: at most :data:`MAX_IMAGES` (added where the command takes the
  option and does not give it, unless it reads its own ``.npz`` data, all of which it uses), except for
  a run whose result a later command compares with published counts (``--published``): those counts
  are over the whole test set;
- ``--sample``: at most :data:`MAX_FAULTS` (a run without ``--sample`` keeps its faults; ``numerics``,
  whose campaign samples 50 by default, gets ``--sample`` :data:`MAX_FAULTS`), and at most
  :data:`MAX_WHOLE_SET_FAULTS` where the campaign runs every test image (a run compared with published
  counts, ``numerics explain MODEL``);
- ``--workers``: at most :data:`MAX_WORKERS`.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

MAX_IMAGES = 64
MAX_FAULTS = 8
MAX_WHOLE_SET_FAULTS = 3  # each costs 10,000 inferences per runtime
MAX_WORKERS = 2
TAKES_IMAGES = {"run": ("--images",), "convert": ("--images",), "numerics": ("--images", "--campaign-images"),
                "demo": ("--images",), "diff": ("--images",)}


def commands(readme: str) -> list[list[str]]:
    """The ``readlx`` commands of the README's ``sh`` blocks, in order, as argument lists without ``readlx``."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", readme, flags=re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "readlx":
                found.append(words[1:])
    return found


def scaled(argv: list[str], later: list[list[str]]) -> list[str]:
    """``argv`` scaled down as the module docstring says; ``later`` are the commands that follow it."""
    out = list(argv)
    if out[0] == "numerics" and "explain" not in out[1:2] and "--sample" not in out:
        out += ["--sample", str(MAX_FAULTS)]
    whole_set = _compared_with_published(out, later) or out[:2] == ["numerics", "explain"]
    for flag, most in (("--sample", MAX_WHOLE_SET_FAULTS if whole_set else MAX_FAULTS), ("--workers", MAX_WORKERS)):
        _cap(out, flag, most)
    if _compared_with_published(out, later):
        return out
    own_data = "--data" in out and out[out.index("--data") + 1].endswith(".npz")  # already small: all of it
    for flag in _image_flags(out):
        if flag not in out and not own_data:
            out += [flag, str(MAX_IMAGES)]
        if flag in out:
            _cap(out, flag, MAX_IMAGES)
    return out


def needs(argv: list[str]) -> list[Path]:
    """The files and directories a command names that must exist beforehand (data, not its outputs)."""
    paths = [w for w in argv if w.startswith("../shared/") or w.startswith("VOCdevkit")]
    if any(w == "resnet20-cifar10" for w in argv):
        paths.append("../shared/data/cifar-10-batches-py")
    return [Path(p) for p in paths]


def _image_flags(argv: list[str]) -> tuple[str, ...]:
    command = argv[0]
    if command == "numerics" and len(argv) > 1 and argv[1] == "explain":
        return ()
    return TAKES_IMAGES.get(command, ())


def _cap(argv: list[str], flag: str, most: int) -> None:
    if flag in argv:
        k = argv.index(flag) + 1
        if argv[k].isdigit():
            argv[k] = str(min(int(argv[k]), most))


def _compared_with_published(argv: list[str], later: list[list[str]]) -> bool:
    out = next((argv[k + 1] for k, w in enumerate(argv[:-1]) if w in ("-o", "--out")), None)
    return out is not None and any(out in c and "--published" in c for c in later)
