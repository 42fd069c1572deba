"""Where readlx finds the reference data (``../shared/data`` beside a checkout, or $READLX_DATA)."""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "READLX_DATA"


def data_root() -> Path | None:
    """The reference data directory, or None when there is none.

    ``$READLX_DATA`` wins; otherwise ``../shared/data`` relative to the working directory, then
    relative to the repository that holds this package.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None
