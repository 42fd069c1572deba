"""Campaign checkpoints: a directory of atomically written chunks, so a killed run loses nothing.

Layout: ``meta.json`` (the fingerprint of the campaign: model, inputs, faults, frameworks, options),
``<framework>.golden.npy`` (checked bitwise on resume: the golden path must be reproducible), and
``<framework>.<start>-<end>.npz`` chunks holding the :class:`~readlx.outcomes.records.FaultRecords` of
faults ``start..end-1``, field by field.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from readlx._typing import Array
from readlx.errors import CheckpointError, ReadlxError
from readlx.outcomes.records import FaultRecords
from readlx.outputs import make_dir, write_bytes_atomic

_CHUNK = re.compile(r"^(?P<fw>.+)\.(?P<start>\d{7})-(?P<end>\d{7})\.npz$")


def _atomic_write(path: Path, write: Any) -> None:
    """Serialize with ``write(file)`` into memory, then write it to disk, synced, all or nothing."""
    buffer = io.BytesIO()
    write(buffer)
    write_bytes_atomic(path, buffer.getvalue(), sync=True)


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
            _same_layout(stored, meta, meta_path)
            for key in sorted(set(stored) | set(meta)):
                if stored.get(key) != meta.get(key):
                    raise CheckpointError(
                        f"checkpoint is of another campaign: {key} was {stored.get(key)!r}, "
                        f"now {meta.get(key)!r}",
                        path=meta_path,
                        field=key,
                    )
            return
        make_dir(self.path)  # marked: readlx may remove it when the run is done
        text = json.dumps(meta, indent=1, sort_keys=True).encode()
        _atomic_write(meta_path, lambda f: f.write(text))

    def check_golden(self, framework: str, golden: Array) -> None:
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

    def write_chunk(self, framework: str, records: FaultRecords) -> None:
        name = f"{framework}.{records.start:07d}-{records.end:07d}.npz"
        arrays = records.arrays()
        _atomic_write(self.path / name, lambda f: np.savez(f, **arrays))

    def read_chunks(self, framework: str) -> list[FaultRecords]:
        """The contiguous chunks from fault 0 on, in order."""
        found = []
        for p in self.path.glob(f"{framework}.*.npz"):
            m = _CHUNK.match(p.name)
            if m and m["fw"] == framework:
                found.append((int(m["start"]), int(m["end"]), p))
        chunks: list[FaultRecords] = []
        expect = 0
        for start, end, p in sorted(found):
            if start != expect:
                raise CheckpointError(f"chunk starts at fault {start}, expected {expect}", path=p)
            chunks.append(_read_chunk(p, start))
            if chunks[-1].end != end:
                raise CheckpointError(f"chunk holds {len(chunks[-1])} faults, name says {end - start}", path=p)
            expect = end
        return chunks


def _read_chunk(path: Path, start: int) -> FaultRecords:
    try:
        with np.load(path, allow_pickle=False) as z:
            return FaultRecords.from_arrays(start, {k: np.array(z[k]) for k in z.files})
    except (OSError, ValueError, KeyError, ReadlxError) as e:
        raise CheckpointError(f"corrupt chunk: {e}", path=path) from e


def _same_layout(stored: dict[str, Any], meta: dict[str, Any], path: Path) -> None:
    """A Dask run keeps chunks of faults (its fingerprint has ``n_chunks``), a run in one process keeps
    segments of each runtime: neither can continue the other's checkpoint."""
    if ("n_chunks" in stored) == ("n_chunks" in meta):
        return
    if "n_chunks" in stored:
        why = "written by a run on Dask, in chunks of faults; resume it with --workers N or --dask ADDRESS"
    else:
        why = "written by a run in one process; resume it without --workers or --dask"
    raise CheckpointError(why, path=path, field="n_chunks")
