"""``readlx audit``: can a published fault list with outcome counts be trusted?

:func:`audit_file` reads the list and runs every check on it: the consistency checks of
:mod:`readlx.audit.consistency`, the plausibility tests of :mod:`readlx.audit.plausibility` and,
when asked, re-runs of a few faults (:mod:`readlx.audit.spot`). Its :class:`~readlx.audit.findings.Audit`
says ok, suspicious (with the evidence) or unreadable (with the error), as text
(:func:`readlx.audit.text.format_audit`) and as data (:meth:`~readlx.audit.findings.Audit.as_dict`).
"""
from __future__ import annotations

from readlx.audit.findings import Audit, Finding
from readlx.audit.run import audit_file, published_model

__all__ = ["Audit", "Finding", "audit_file", "published_model"]
