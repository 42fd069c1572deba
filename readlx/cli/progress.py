"""The progress bar of long commands: one tqdm bar per framework on stderr
(:class:`readlx.progress.ProgressBars`), wall times on stdout."""
from __future__ import annotations

from collections.abc import Callable

from readlx.progress import ProgressBars, Update

__all__ = ["Update", "progress_bar"]


def progress_bar() -> tuple[ProgressBars, Callable[[], None]]:
    """A tqdm bar per framework (stderr) and what closes them and prints each framework's wall time
    (stdout); the bars take the campaign's fault weights (:meth:`ProgressBars.weights`)."""
    bars = ProgressBars()
    reported: list[bool] = []  # the times are printed once, however often close is called

    def close() -> None:
        bars.close()
        if not reported:
            reported.append(True)
            for fw, n, seconds in bars.wall_times():
                print(f"{fw}: {n} faults in {seconds:.1f} s (set-up and golden pass included)")

    return bars, close
