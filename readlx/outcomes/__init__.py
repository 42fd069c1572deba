"""The one classifier of faulty inferences (invariant 4 of docs/architecture.md), per task."""
from __future__ import annotations
