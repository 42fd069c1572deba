"""Summaries, divergence, statistics, breakdowns, plots and reports of campaign Datasets."""
from __future__ import annotations

import readlx.comparisons.accessor  # noqa: F401 - registers the ``ds.readlx`` accessor
