"""An audit as text: the verdict per file, then each finding with its statistic.

Examples
--------
>>> from readlx.audit.findings import OK, SUSPICIOUS, Audit, Finding
>>> audit = Audit("m_FL.csv", "m", 12, (Finding("ids", "consistency", OK, "rows whose id is not their position: 0"),
...                                    Finding("low bits", "plausibility", SUSPICIOUS, "faults in bits 0-15 ...: 3")))
>>> print(format_audit(audit))
m_FL.csv (model m, 12 faults): SUSPICIOUS
  ok          consistency   ids: rows whose id is not their position: 0
  suspicious  plausibility  low bits: faults in bits 0-15 ...: 3
"""
from __future__ import annotations

from collections.abc import Sequence

from readlx.audit.findings import Audit


def format_audit(audit: Audit) -> str:
    """One file's verdict and findings."""
    head = f"{audit.path} (model {audit.model or 'not given'}, {audit.faults} faults): {audit.verdict.upper()}"
    if audit.error:
        return f"{head}\n  {audit.error}"
    if not audit.counts:
        return f"{head}\n  the list holds no outcome counts to audit"
    return "\n".join([head, *(f"  {f.status:11s} {f.kind:13s} {f.check}: {f.statistic}" for f in audit.findings)])


def format_summary(audits: Sequence[Audit]) -> str:
    """A line per file: verdict and the checks behind it."""
    lines = [f"{'file':40s} {'faults':>7s}  verdict     evidence"]
    for a in audits:
        why = ", ".join(f.check for f in a.suspicious()) or (a.error or "")[:60]
        lines.append(f"{a.path.rsplit('/', 1)[-1]:40s} {a.faults:7d}  {a.verdict:10s}  {why}")
    return "\n".join(lines)
