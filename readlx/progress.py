"""Progress bars of campaigns: one tqdm bar per framework on stderr.

A bar counts faults; its remaining time weighs the faults still to run by what each is expected to
cost (:func:`remaining_seconds`), from the weights the campaign gives when a framework starts
(:attr:`readlx.campaign.CampaignOptions.progress_weights`): in fast mode a fault of an early layer
costs many times one of the last, and a count of faults alone would promise the end too early.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

Update = Callable[[str, int, int], None]
"""``update(framework, done, total)``: the campaign's progress callback."""

SETTING_UP = "golden pass and set-up"
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} faults [{elapsed}, {rate_fmt}{postfix}]"
"""tqdm's layout, with the remaining time of :func:`remaining_seconds` (in the postfix) for tqdm's own."""


def remaining_seconds(weights: Sequence[float], start: int, done: int, elapsed: float) -> float | None:
    """Seconds left when the faults ``start`` to ``done`` of a list whose faults are expected to cost
    ``weights`` took ``elapsed`` seconds: the cost still to run, at the rate measured on them.

    ``None`` while nothing of any cost is done.

    >>> remaining_seconds([4, 3, 2, 1], 0, 2, 7.0)  # 7 units of cost in 7 s, 3 left
    3.0
    >>> remaining_seconds([1, 1, 1, 1], 0, 2, 7.0)  # equal costs: 2 faults in 7 s, 2 left
    7.0
    >>> print(remaining_seconds([0, 3, 2, 1], 0, 1, 4.0))  # a no-op done: no rate yet
    None
    """
    spent = sum(weights[start:done])
    if spent <= 0 or elapsed <= 0:
        return None
    return elapsed * sum(weights[done:]) / spent


class ProgressBars:
    """A tqdm bar per framework (stderr), called as the campaign's progress callback; :meth:`weights`
    sets a framework's expected cost per fault; :meth:`close` closes the bars; :meth:`wall_times`
    says how long each framework took."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.bars: dict[str, tqdm[NoReturn]] = {}  # bars without an iterable
        self._weights: dict[str, list[float]] = {}
        self._start: dict[str, int] = {}
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self._closed = False  # close() reports once, however often it is called

    def weights(self, framework: str, weights: Sequence[float]) -> None:
        """Each fault's expected cost, relative to the others, for ``framework``'s remaining time
        (without a call, or with a list of another length, every fault costs the same)."""
        self._weights[framework] = [float(w) for w in weights]

    def _remaining(self, framework: str, done: int, total: int) -> float | None:
        weights = self._weights.get(framework)
        if weights is None or len(weights) != total:
            weights = [1.0] * total
        return remaining_seconds(weights, self._start[framework], done,
                                 time.perf_counter() - self.started[framework])

    def __call__(self, framework: str, done: int, total: int) -> None:
        bar = self.bars.get(framework)
        if bar is None:
            # Frameworks run one after the other; the first report comes when one starts, before its
            # golden pass and set-up, which its clock and the bar's rate include.
            self.started[framework] = time.perf_counter()
            self._start[framework] = done
            bar = self.bars[framework] = self._tqdm(
                total=total, initial=done, desc=framework, unit="fault", file=sys.stderr, dynamic_ncols=True,
                smoothing=0, mininterval=0.5, bar_format=BAR_FORMAT, postfix=SETTING_UP)
        else:
            left = self._remaining(framework, done, total)
            bar.set_postfix_str("? left" if left is None else f"{self._tqdm.format_interval(left)} left",
                                refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.refresh()  # a finished framework's bar shows 100 %, not its last throttled state
        self.finished[framework] = time.perf_counter()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for bar in self.bars.values():
            bar.close()

    def wall_times(self) -> list[tuple[str, int, float]]:
        """``(framework, faults run, seconds from its start to its last fault)``, in run order; the
        faults a resumed checkpoint held are not counted."""
        return [(fw, int(self.bars[fw].n - self.bars[fw].initial), self.finished[fw] - t0)
                for fw, t0 in self.started.items()]
