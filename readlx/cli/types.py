"""Argument types of the command line: numbers checked before any work, each refusal quoting the value.

>>> count("12"), seed("0"), share("0.01"), positive("2.5")
(12, 0, 0.01, 2.5)
>>> count("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a whole number >= 1, got '0'
>>> positive("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a finite number, got 'nan'
"""
from __future__ import annotations

import argparse
import math

LARGEST = 2**63 - 1
"""The largest whole number an argument takes (NumPy's int64, in which readlx counts)."""


def _whole(text: str, least: int) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or int(digits) < least or int(digits) > LARGEST:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {text!r}")
    return int(digits)


def count(text: str) -> int:
    """A whole number >= 1 (images, faults, threads, workers, bytes, batch sizes)."""
    return _whole(text, 1)


def seed(text: str) -> int:
    """A whole number >= 0 (seeds, and counts where 0 means none)."""
    return _whole(text, 0)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not text.strip().isascii() or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive(text: str) -> float:
    """A finite number > 0 (durations, tolerances, points)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def duration(text: str) -> float:
    """A finite number of seconds >= 0 (0: as often as possible)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0, got {text!r}")
    return value


def share(text: str) -> float:
    """A number strictly between 0 and 1 (margins, confidence levels, proportions)."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (exclusive), got {text!r}")
    return value
