"""Campaign checkpoints: a directory of atomically written chunks, so a killed run loses nothing.

Layout: ``meta.json`` (the fingerprint of the campaign: model, inputs, faults, frameworks, options),
``<framework>.golden.npy`` (checked bitwise on resume: the golden path must be reproducible), and
``<framework>.<start>-<end>.npz`` chunks holding the results of faults ``start..end-1``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from readlx.errors import CheckpointError

_CHUNK = re.compile(r"^(?P<fw>.+)\.(?P<start>\d{7})-(?P<end>\d{7})\.npz$")


def fingerprint_faults(ids: tuple[int, ...], faults: tuple[Any, ...]) -> str:
    h = hashlib.sha256()
    for i, f in zip(ids, faults):
        h.update(f"{i}|{f.layer}|{f.index}|{f.bit}|{f.kind.value}\n".encode())
    return h.hexdigest()


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


@dataclass
class Chunk:
    start: int
    end: int
    counts: np.ndarray
    noop: np.ndarray
    outcome: np.ndarray | None
    quality: np.ndarray | None = None


class CheckpointDir:
    """Read and write one campaign's checkpoint directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def open(self, meta: dict[str, Any], resume: bool) -> None:
        """Create the directory, or check on resume that it belongs to the same campaign."""
        meta_path = self.path / "meta.json"
        if meta_path.exists():
            if not resume:
                raise CheckpointError(
                    "a checkpoint of an earlier run exists; pass --resume to continue it, or remove it",
                    path=self.path,
                )
            try:
                stored = json.loads(meta_path.read_text())
            except json.JSONDecodeError as e:
                raise CheckpointError(f"unreadable: {e.msg}", path=meta_path, line=e.lineno) from e
            for key in sorted(set(stored) | set(meta)):
                if stored.get(key) != meta.get(key):
                    raise CheckpointError(
                        f"checkpoint is of another campaign: {key} was {stored.get(key)!r}, "
                        f"now {meta.get(key)!r}",
                        path=meta_path,
                        field=key,
                    )
            return
        self.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(meta, indent=1, sort_keys=True).encode()
        _atomic_write(meta_path, lambda f: f.write(text))

    def check_golden(self, framework: str, golden: np.ndarray) -> None:
        """Store the golden outputs, or verify them bitwise against the stored ones."""
        path = self.path / f"{framework}.golden.npy"
        if path.exists():
            stored = np.load(path, allow_pickle=False)
            if stored.shape != golden.shape or not np.array_equal(
                stored.view(np.uint32), np.ascontiguousarray(golden, np.float32).view(np.uint32)
            ):
                raise CheckpointError(
                    f"{framework} golden outputs differ from the checkpointed ones (another machine, "
                    "thread count or library version?); results would not be comparable",
                    path=path,
                )
            return
        _atomic_write(path, lambda f: np.save(f, np.ascontiguousarray(golden, np.float32)))

    def write_chunk(self, framework: str, chunk: Chunk) -> None:
        arrays = {"counts": chunk.counts, "noop": chunk.noop}
        if chunk.outcome is not None:
            arrays["outcome"] = chunk.outcome
        if chunk.quality is not None:
            arrays["quality"] = chunk.quality
        name = f"{framework}.{chunk.start:07d}-{chunk.end:07d}.npz"
        _atomic_write(self.path / name, lambda f: np.savez(f, **arrays))

    def read_chunks(self, framework: str) -> list[Chunk]:
        """The contiguous chunks from fault 0 on, in order."""
        found = []
        for p in self.path.glob(f"{framework}.*.npz"):
            m = _CHUNK.match(p.name)
            if m and m["fw"] == framework:
                found.append((int(m["start"]), int(m["end"]), p))
        chunks, expect = [], 0
        for start, end, p in sorted(found):
            if start != expect:
                raise CheckpointError(f"chunk starts at fault {start}, expected {expect}", path=p)
            try:
                with np.load(p, allow_pickle=False) as z:
                    outcome = np.array(z["outcome"]) if "outcome" in z.files else None
                    quality = np.array(z["quality"]) if "quality" in z.files else None
                    chunks.append(Chunk(start, end, np.array(z["counts"]), np.array(z["noop"]), outcome, quality))
            except (OSError, ValueError, KeyError) as e:
                raise CheckpointError(f"corrupt chunk: {e}", path=p) from e
            if len(chunks[-1].counts) != end - start:
                raise CheckpointError(f"chunk holds {len(chunks[-1].counts)} faults, name says {end - start}", path=p)
            expect = end
        return chunks
