"""What identifies a campaign, so that a checkpoint is resumed only by the campaign that wrote it."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from readlx._version import __version__
from readlx.fault_maps.fault import Site
from readlx.fault_maps.faultlist import FaultList


def fault_digest(faults: FaultList) -> str:
    """sha256 of every entry's id and canonical fault, in order.

    >>> from readlx.fault_maps.fault import Fault
    >>> fault_digest(FaultList.from_faults("m", (Fault("fc", (0, 1), 3),)))[:12]
    '6990afa60d4d'
    """
    h = hashlib.sha256()
    for entry in faults.entries:
        f = entry.fault
        site = "" if f.site is Site.WEIGHT else f"|{f.site.value}"  # weight faults keep their digests
        site += "" if f.seed is None else f"|seed {f.seed}"
        h.update(f"{entry.id}|{f.layer}|{f.index}|{f.bit}|{f.kind.value}{site}\n".encode())
    return h.hexdigest()


def campaign_fingerprint(faults: FaultList, **fields: Any) -> dict[str, Any]:
    """The fault list's digest and size, readlx's version and ``fields``, as JSON would store them
    (tuples become lists), so a stored fingerprint compares equal to a fresh one."""
    meta = {"faults": fault_digest(faults), "n_faults": len(faults), "readlx": __version__, **fields}
    normalized: dict[str, Any] = json.loads(json.dumps(meta, sort_keys=True))
    return normalized
