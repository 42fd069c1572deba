"""The one classifier of faulty inferences (DESIGN.md invariant 4), per task."""
from __future__ import annotations
