"""The progress bar of long commands: one tqdm bar per framework on stderr, wall times on stdout."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NoReturn

Update = Callable[[str, int, int], None]
"""``update(framework, done, total)``: the campaign's progress callback."""


def progress_bar() -> tuple[Update, Callable[[], None]]:
    """A tqdm bar per framework (stderr); on close, each framework's wall time (stdout)."""
    from tqdm import tqdm

    bars: dict[str, tqdm[NoReturn]] = {}  # bars without an iterable
    opened = time.perf_counter()
    started: dict[str, float] = {}
    finished: dict[str, float] = {}

    def update(framework: str, done: int, total: int) -> None:
        bar = bars.get(framework)
        if bar is None:
            # Frameworks run one after the other, and the first report comes after a whole fast-mode
            # block: a framework's clock starts when the previous one finished (its golden pass and
            # set-up included).
            started[framework] = max(finished.values(), default=opened)
            bar = bars[framework] = tqdm(total=total, initial=done - 1, desc=framework, unit="fault",
                                         file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)
        finished[framework] = time.perf_counter()

    def close() -> None:
        for bar in bars.values():
            bar.close()
        for fw, t0 in started.items():
            print(f"{fw}: {bars[fw].n - bars[fw].initial} faults in {finished[fw] - t0:.1f} s "
                  "(set-up and golden pass included)")

    return update, close
