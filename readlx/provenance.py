"""Where, when and how a result was made: the host, the runtimes, the command, the history, the subset.

A result file says what ran it apart from what the benchmark card published: ``host_cpu``,
``host_gpus``, ``host_os`` and ``host_cpu_count`` name the machine, ``runtimes`` each runtime's version,
device and threads, ``readlx_version`` and ``python_version`` the software, ``date_created`` the time
(ISO 8601, UTC), ``command_line`` the command when one ran it, and ``history`` one line per step,
``"<ISO time>: <what>"``, oldest first, as the CF conventions ask. Merging pieces keeps each distinct
step once, at its earliest time, so the chunks of one Dask run leave one line.

When the environment variable ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds
convention) is set, it is the time of every stamp, so two runs of one campaign give identical Datasets.

Examples
--------
>>> history_line("readlx run m", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
'2026-01-02T03:04:05Z: readlx run m'
>>> merged_history(["2026-01-02T00:00:09Z: chunk", "2026-01-02T00:00:01Z: chunk\\n2026-01-03T00:00:00Z: merge"])
'2026-01-02T00:00:01Z: chunk\\n2026-01-03T00:00:00Z: merge'
"""
from __future__ import annotations

import os
import platform
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from readlx._version import __version__
from readlx.fault_maps.faultlist import FaultList
from readlx.fault_maps.sampling import margin_of_error
from readlx.fault_maps.select import stratified_subset

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr

HOST_ATTRS = ("host_cpu", "host_cpu_count", "host_gpus", "host_os")
PROVENANCE_ATTRS = ("date_created", "history", "command_line", *HOST_ATTRS)
"""The attrs that say when and where a piece of a result was made: they may differ between two runs
of one campaign, and between the shards or chunks of one."""
SUBSET_KEY = "subset"
"""Key of :attr:`~readlx.fault_maps.faultlist.FaultList.meta` under which :func:`recorded_subset` keeps
what the subset was drawn from."""
SUBSET_METHOD = "stratified over layers, then bit positions (readlx.fault_maps.select.stratified_subset)"
_NVIDIA_PROC = Path("/proc/driver/nvidia/gpus")


# -- time and history ----------------------------------------------------------------------------
def utc_now() -> datetime:
    """Now in UTC, to the second; ``SOURCE_DATE_EPOCH`` when set."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return now.replace(microsecond=0)


def iso_time(when: datetime | None = None) -> str:
    """``when`` (default :func:`utc_now`) as ISO 8601 in UTC with a ``Z``.

    >>> iso_time(datetime(2026, 5, 17, 8, 30, tzinfo=UTC))
    '2026-05-17T08:30:00Z'
    """
    moment = (when or utc_now()).astimezone(UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def history_line(what: str, when: datetime | None = None) -> str:
    """One ``history`` line: ``"<ISO time>: <what>"`` (line breaks in ``what`` become spaces)."""
    return f"{iso_time(when)}: {' '.join(what.split())}"


def appended_history(history: str | None, what: str, when: datetime | None = None) -> str:
    """``history`` with the line of ``what`` at its end.

    >>> appended_history("2026-01-01T00:00:00Z: made", "merged", datetime(2026, 1, 2, tzinfo=UTC))
    '2026-01-01T00:00:00Z: made\\n2026-01-02T00:00:00Z: merged'
    """
    line = history_line(what, when)
    return f"{history}\n{line}" if history else line


def merged_history(histories: Iterable[str | None]) -> str:
    """The histories of the pieces of one result as one: each distinct step once, at its earliest time,
    in time order."""
    first: dict[str, str] = {}
    for history in histories:
        for line in (history or "").splitlines():
            when, sep, what = line.partition(": ")
            key = what if sep else line
            if key not in first or (sep and when < first[key].partition(": ")[0]):
                first[key] = line
    return "\n".join(sorted(first.values(), key=lambda line: line.partition(": ")[0]))


# -- the host and the runtimes -------------------------------------------------------------------
def cpu_model(cpuinfo: str | None = None) -> str:
    """The processor's name: ``model name`` (x86) or ``Hardware`` / ``Processor`` (Arm) of
    ``/proc/cpuinfo`` (or of the text ``cpuinfo``), else what :mod:`platform` knows.

    >>> cpu_model("processor\\t: 0\\nmodel name\\t: AMD EPYC 9654 96-Core Processor\\n")
    'AMD EPYC 9654 96-Core Processor'
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        if key in fields:
            return fields[key]
    return platform.processor() or platform.machine() or "unknown"


def gpu_names(proc: Path = _NVIDIA_PROC) -> list[str]:
    """Names of the NVIDIA GPUs the driver lists under ``proc``; where it lists none, those of an
    initialized PyTorch CUDA context. Nothing here initializes CUDA."""
    names = []
    for info in sorted(proc.glob("*/information")) if proc.is_dir() else []:
        for line in info.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model" and value.strip():
                names.append(value.strip())
    torch = sys.modules.get("torch")
    if not names and torch is not None and torch.cuda.is_initialized():
        names = [str(torch.cuda.get_device_name(i)) for i in range(torch.cuda.device_count())]
    return names


def host_facts() -> dict[str, Any]:
    """The ``host_*`` attrs of this machine (:data:`HOST_ATTRS`)."""
    gpus = gpu_names()
    return {
        "host_cpu": cpu_model(),
        "host_cpu_count": int(os.cpu_count() or 0),
        "host_gpus": "; ".join(gpus) if gpus else "none",
        "host_os": platform.platform(),
    }


def runtimes(engines: Mapping[str, Mapping[str, Any]]) -> str:
    """One line per runtime, from the engines' :meth:`~readlx.engines.base.Engine.describe`: version,
    device and threads (``default``: the runtime's own choice).

    >>> runtimes({"torch": {"version": "2.4", "device": "cpu", "threads": 8},
    ...           "keras": {"version": "2.15", "device": "cpu", "intra_op_threads": 0}})
    'torch 2.4 on cpu, 8 threads; keras 2.15 on cpu, default threads'
    """
    parts = []
    for name, described in engines.items():
        threads = described.get("threads", described.get("intra_op_threads", "default"))
        threads = "default" if threads in (0, None) else threads
        parts.append(f"{name} {described.get('version', '?')} on {described.get('device', '?')}, {threads} threads")
    return "; ".join(parts)


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed, quoted for a POSIX shell; the program is ``readlx`` however it was started
    (the console script or ``python -m readlx.cli``).

    >>> command_line(["/usr/lib/python3/site-packages/readlx/cli/__main__.py", "run", "m", "-o", "a b.nc"])
    "readlx run m -o 'a b.nc'"
    """
    args = list(sys.argv if argv is None else argv)
    program = Path(args[0]).name if args else "readlx"
    if program in ("__main__.py", "readlx", "") or program.startswith("readlx"):
        program = "readlx"
    return shlex.join([program, *args[1:]])


def run_facts(engines: Mapping[str, Mapping[str, Any]] | None = None, command: str | None = None,
              when: datetime | None = None) -> dict[str, Any]:
    """The attrs that say where, when and how a campaign ran: host, runtimes, versions, time, history."""
    what = command if command else f"fault campaign run by readlx {__version__} (Python API)"
    when = when or utc_now()
    facts: dict[str, Any] = {
        **host_facts(),
        "readlx_version": __version__,
        "python_version": platform.python_version(),
        "date_created": iso_time(when),
        "history": history_line(what, when),
    }
    if engines:
        facts["runtimes"] = runtimes(engines)
    return facts


# -- pieces of one result ------------------------------------------------------------------------
def merged_provenance(attrs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The :data:`PROVENANCE_ATTRS` of a result made of pieces with ``attrs``: the merged history, the
    earliest creation time, and for the others the distinct values joined by ``"; "``."""
    out: dict[str, Any] = {}
    if any("history" in a for a in attrs):
        out["history"] = merged_history(str(a["history"]) for a in attrs if "history" in a)
    created = [str(a["date_created"]) for a in attrs if "date_created" in a]
    if created:
        out["date_created"] = min(created)
    for key in ("command_line", *HOST_ATTRS):
        values = list(dict.fromkeys(a[key] for a in attrs if key in a))
        if values:
            out[key] = values[0] if len(values) == 1 else "; ".join(str(v) for v in values)
    return out


def without_provenance(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without :data:`PROVENANCE_ATTRS`: what two runs of one campaign must agree on."""
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in PROVENANCE_ATTRS}
    return out


# -- the subset a campaign ran -------------------------------------------------------------------
def recorded_subset(faults: FaultList, n: int, seed: int) -> FaultList:
    """The stratified subset of ``n`` faults of ``faults`` drawn with ``seed``, recording what it is:
    its sampling record is the subset's (sample size ``n``, the seed, the worst-case margin of ``n``
    faults from the population), and ``meta["subset"]`` keeps the size and sampling of ``faults``.
    A subset as large as the list is the list itself.

    >>> from readlx.fault_maps.fault import Fault
    >>> from readlx.fault_maps.faultlist import Sampling
    >>> full = FaultList.from_faults("m", [Fault("fc", (0, i), b) for i in range(4) for b in range(32)],
    ...                             sampling=Sampling(10**6, 128, 0.1, 0.99, 0.5, 2.58, 42, "network-wise"))
    >>> sub = recorded_subset(full, 8, seed=3)
    >>> sub.sampling.sample_size, sub.sampling.seed, round(sub.sampling.margin, 3), sub.meta["subset"]["of"]
    (8, 3, 0.456, 128)
    >>> subset_attrs(sub)["fault_list_sampling_sample_size"]
    128
    """
    sub = stratified_subset(faults, n, seed)
    if len(sub) == len(faults):
        return faults
    record: dict[str, Any] = {"size": len(sub), "seed": int(seed), "method": SUBSET_METHOD, "of": len(faults)}
    sampling = faults.sampling
    if sampling is not None:
        record["sampling"] = sampling.to_attrs()
        margin = float(margin_of_error(sampling.p, len(sub), max(sampling.population, len(sub)), sampling.t))
        sampling = replace(sampling, sample_size=len(sub), margin=margin, seed=int(seed), mode="stratified-subset")
    return replace(sub, sampling=sampling, meta={**sub.meta, SUBSET_KEY: record})


def subset_attrs(faults: FaultList) -> dict[str, Any]:
    """The attrs of the subset ``faults`` records (:func:`recorded_subset`): ``subset_size``,
    ``subset_seed``, ``subset_method``, ``fault_list_size`` and the list's own ``fault_list_sampling_*``;
    empty for a whole list."""
    record = faults.meta.get(SUBSET_KEY)
    if not isinstance(record, Mapping):
        return {}
    out: dict[str, Any] = {"subset_size": int(record["size"]), "subset_seed": int(record["seed"]),
                           "subset_method": str(record["method"]), "fault_list_size": int(record["of"])}
    for key, value in dict(record.get("sampling") or {}).items():
        out[f"fault_list_{key}"] = value
    return out
