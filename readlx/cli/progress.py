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
    started: dict[str, float] = {}
    finished: dict[str, float] = {}
    closed: list[bool] = []  # close() reports once, however often it is called

    def update(framework: str, done: int, total: int) -> None:
        bar = bars.get(framework)
        if bar is None:
            # Frameworks run one after the other; the first report comes when one starts, before its
            # golden pass and set-up, which its clock and the bar's rate include.
            started[framework] = time.perf_counter()
            bar = bars[framework] = tqdm(total=total, initial=done, desc=framework, unit="fault", file=sys.stderr,
                                         dynamic_ncols=True, smoothing=0, mininterval=0.5)
            bar.set_postfix_str("golden pass and set-up")
        elif bar.postfix:
            bar.set_postfix_str("")
        bar.update(done - bar.n)
        if done >= total:
            bar.refresh()  # a finished framework's bar shows 100 %, not its last throttled state
        finished[framework] = time.perf_counter()

    def close() -> None:
        if closed:
            return
        closed.append(True)
        for bar in bars.values():
            bar.close()
        for fw, t0 in started.items():
            print(f"{fw}: {bars[fw].n - bars[fw].initial} faults in {finished[fw] - t0:.1f} s "
                  "(set-up and golden pass included)")

    return update, close
