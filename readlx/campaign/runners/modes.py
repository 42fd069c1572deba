"""The attrs that say how each engine's faults ran: ``mode_<framework>`` (``"fast"``, ``"reference"``
or ``"mixed"``) and ``mode_<framework>_detail``.

In fast mode each run chooses from the costs it measures (:mod:`readlx.campaign.runners.choice`), so
two runs of one campaign, and the shards or Dask chunks of one, may choose differently and do record
other seconds: these attrs may differ where the outcomes may not. :func:`without_modes` leaves them
out of a comparison; :func:`merged_modes` makes the pieces' attrs into those of the whole. A run
resumed from a checkpoint is a piece after the runs before it: each run's mode and detail are kept in
the checkpoint (:func:`write_runs`), and :func:`merged_runs` makes them the whole campaign's.

Examples
--------
>>> merged_modes([{"mode_torch": "fast", "mode_torch_detail": '{"a": 1}'},
...               {"mode_torch": "reference", "mode_torch_detail": '{"a": 2}'}])
{'mode_torch': 'mixed', 'mode_torch_detail': '{"pieces": [{"a": 1}, {"a": 2}]}'}
>>> merged_modes([{"mode_torch": "fast", "mode": "fast"}, {"mode_torch": "fast", "mode": "fast"}])
{'mode_torch': 'fast'}
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readlx.outputs import write_atomic

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

PREFIX = "mode_"
DETAIL = "_detail"


def is_mode_attr(key: str) -> bool:
    """Is ``key`` one of the per-engine mode attrs (not ``mode``, the mode asked for)?

    >>> is_mode_attr("mode_torch_detail"), is_mode_attr("mode")
    (True, False)
    """
    return key.startswith(PREFIX)


def without_modes(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the per-engine mode attrs: what two runs of one campaign in fast mode agree on.

    >>> import xarray as xr
    >>> without_modes(xr.Dataset(attrs={"mode": "fast", "mode_torch": "mixed"})).attrs
    {'mode': 'fast'}
    """
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if not is_mode_attr(str(k))}
    return out


def merged_modes(attrs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The per-engine mode attrs of a result made of pieces with ``attrs``: an engine's mode is the
    pieces' when they agree, else ``"mixed"``; its detail the pieces' when they agree, else
    ``{"pieces": [...]}``, one per piece in order (``null`` where a piece has none)."""
    keys = list(dict.fromkeys(str(k) for a in attrs for k in a if is_mode_attr(str(k))))
    out: dict[str, Any] = {}
    for key in keys:
        values = [a.get(key) for a in attrs]
        if all(v == values[0] for v in values):
            out[key] = values[0]
        elif key.endswith(DETAIL):
            out[key] = json.dumps({"pieces": [_parsed(v) for v in values]}, sort_keys=True)
        else:
            out[key] = "mixed"
    return out


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def read_runs(path: Path) -> list[dict[str, Any]]:
    """The mode and detail of each earlier run of a checkpointed campaign (none when ``path`` is absent)."""
    if not path.is_file():
        return []
    runs = json.loads(path.read_text()).get("runs", [])
    return [dict(r) for r in runs if isinstance(r, Mapping) and {"mode", "detail"} <= set(r)]


def write_runs(path: Path, runs: Sequence[Mapping[str, Any]]) -> None:
    """Keep ``runs`` (``{"mode": ..., "detail": ...}`` each) in ``path``, replaced whole; read them
    back with :func:`read_runs`.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = Path(d) / "torch.mode.json"
    ...     before = read_runs(path)
    ...     write_runs(path, [{"mode": "fast", "detail": {"a": 1}}, {"mode": "x"}])
    ...     before, read_runs(path)  # a run without its detail is not one
    ([], [{'detail': {'a': 1}, 'mode': 'fast'}])
    """
    text = json.dumps({"runs": list(runs)}, sort_keys=True)
    write_atomic(path, lambda tmp: tmp.write_text(text))


def merged_runs(runs: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The mode and detail of a campaign run in parts, one after the other: a part's own when there
    is one, else the parts' mode when they agree (``"mixed"`` when not) and ``{"runs": [...]}``.

    >>> merged_runs([{"mode": "fast", "detail": {"a": 1}}])
    ('fast', {'a': 1})
    >>> merged_runs([{"mode": "reference", "detail": {"a": 1}}, {"mode": "fast", "detail": {"a": 2}}])
    ('mixed', {'runs': [{'a': 1}, {'a': 2}]})
    """
    if len(runs) == 1:
        return str(runs[0]["mode"]), dict(runs[0]["detail"])
    modes = {str(r["mode"]) for r in runs}
    return (modes.pop() if len(modes) == 1 else "mixed"), {"runs": [dict(r["detail"]) for r in runs]}
