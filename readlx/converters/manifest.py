"""The content hashes of a bundle's files, written when its conversion is complete, checked on load.

A bundle is what every runtime of a campaign runs, so a file changed after conversion (tampered ONNX
weights, a swapped binding in ``graph.json``, another ``equivalence.json``) would run and be labelled
with the converted model. ``manifest.json`` lists the sha256 of every file of the bundle; loading
refuses a bundle whose files differ from it, with a file missing, a file added (a planted Python
module or Keras asset), or a symbolic link anywhere.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "graph.json").write_text("{}")
>>> write_manifest(root)
>>> verify_manifest(root)
>>> _ = (root / "graph.json").write_text('{"x": 1}')
>>> verify_manifest(root)
Traceback (most recent call last):
...
readlx.errors.InputError: .../graph.json: changed since the bundle was written (sha256 ...
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from readlx.errors import InputError

MANIFEST = "manifest.json"
SCHEMA = 1


def write_manifest(root: Path) -> None:
    """Write ``root/manifest.json`` with the sha256 of every file under ``root``."""
    files = {rel: _sha256(root / rel) for rel in _files(root)}
    (root / MANIFEST).write_text(json.dumps({"schema": SCHEMA, "sha256": files}, indent=1, sort_keys=True))


def verify_manifest(root: Path) -> None:
    """Raise :class:`InputError`, naming the file, unless the files under ``root`` are exactly those of
    its manifest, with the same contents."""
    listed = _read(root)
    present = _files(root)
    extra = sorted(set(present) - set(listed))
    if extra:
        raise InputError("was not written by the conversion (not in manifest.json); a bundle runs only "
                         "what readlx converted", path=root / extra[0])
    for rel, digest in sorted(listed.items()):
        if rel not in present:
            raise InputError("missing (listed in manifest.json)", path=root / rel)
        actual = _sha256(root / rel)
        if actual != digest:
            raise InputError(f"changed since the bundle was written (sha256 {actual[:12]}..., manifest.json says "
                             f"{str(digest)[:12]}...); convert the model again", path=root / rel)


def _read(root: Path) -> dict[str, str]:
    path = root / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise InputError("no manifest.json: not a bundle written by this readlx; convert the model again", path=root)
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"unreadable: {e}", path=path) from e
    files = data.get("sha256") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(files, dict):
        raise InputError(f"not a readlx manifest of schema {SCHEMA}", path=path, field="sha256")
    return {str(k): str(v) for k, v in files.items()}


def _files(root: Path) -> list[str]:
    """Relative paths of the regular files under ``root`` but the manifest; a link anywhere raises."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                raise InputError("is a symbolic link; a bundle holds none", path=path)
            if name in filenames and not path.is_file():
                raise InputError("is not a regular file", path=path)
        found += [str((Path(dirpath) / name).relative_to(root)) for name in filenames]
    return sorted(f for f in found if f != MANIFEST)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
