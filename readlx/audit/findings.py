"""What an audit finds: one :class:`Finding` per check, and the :class:`Audit` of a file with its verdict.

A finding is ``ok``, ``suspicious`` (with the evidence that makes it so) or ``skipped`` (with the
reason: no model given, too few faults for the test, no weights). A file is *suspicious* when any
finding is, *unreadable* when it could not be read as a fault list (with the error), *no counts*
when it holds none to audit, and *ok* otherwise.

Examples
--------
>>> ok = Finding("counts add up", "consistency", OK, "rows whose counts differ from n_injections: 0")
>>> bad = Finding("duplicates", "consistency", SUSPICIOUS, "repeated faults: 2", {"ids": [[3, 9]]})
>>> Audit("a.csv", None, 10, (ok,)).verdict, Audit("a.csv", None, 10, (ok, bad)).verdict
('ok', 'suspicious')
>>> Audit("a.csv", None, 10, (ok, bad)).as_dict()["findings"][1]["evidence"]
{'ids': [[3, 9]]}
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from readlx.errors import InputError

OK = "ok"
SUSPICIOUS = "suspicious"
SKIPPED = "skipped"
UNREADABLE = "unreadable"
NO_COUNTS = "no counts"
STATUSES = (OK, SUSPICIOUS, SKIPPED)


@dataclass(frozen=True)
class Finding:
    """The result of one check.

    Parameters
    ----------
    check
        Its name (``"counts add up"``, ``"bit dependence"``, ...).
    kind
        ``"consistency"``, ``"plausibility"`` or ``"spot"``.
    status
        One of :data:`STATUSES`.
    statistic
        What was computed and its value, as one sentence.
    evidence
        JSON-able details: counts, p-values, example faults (by id).
    """

    check: str
    kind: str
    status: str
    statistic: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InputError(f"status {self.status!r}; valid: {', '.join(STATUSES)}", field="status")


@dataclass(frozen=True)
class Audit:
    """The audit of one file: its findings and the verdict they give."""

    path: str
    model: str | None
    faults: int
    findings: tuple[Finding, ...]
    error: str | None = None
    counts: bool = True

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return UNREADABLE
        if not self.counts:
            return NO_COUNTS
        return SUSPICIOUS if any(f.status == SUSPICIOUS for f in self.findings) else OK

    def suspicious(self) -> list[Finding]:
        """The findings behind a suspicious verdict."""
        return [f for f in self.findings if f.status == SUSPICIOUS]

    def as_dict(self) -> dict[str, Any]:
        """The audit as JSON-able data."""
        return {"path": self.path, "model": self.model, "faults": self.faults, "verdict": self.verdict,
                "error": self.error, "counts": self.counts, "findings": [asdict(f) for f in self.findings]}
