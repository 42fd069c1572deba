"""Fast mode's runner: per layer and block of faults, the reference loop or the fast runner, whichever
the costs measured so far say is cheaper (:mod:`readlx.campaign.runners.costs`).

The faults are taken in blocks of the fast runner's size. The first faults that need an inference
(:data:`TIMING_FAULTS`) run on the reference loop and time it: faults of the campaign, not extra
inferences. The fast runner is then built, and its *probe* runs: the first faults (at most
:data:`PROBE_FAULTS`) of one layer of the block, among those the prior says are worth it the one
with most faults in the block (the middle one in network order among equals). It runs only when the
prior says the campaign would save :data:`PROBE_RATIO` times what the probe can lose; else every
fault runs on the reference loop, as a short campaign on a runtime with a set-up per layer (ONNX
Runtime, Keras) does. After the probe, each block runs the layers
:func:`~readlx.campaign.runners.costs.plan` picks on the fast runner (built and checked per layer as
it always is) and the others on the reference loop, and its measurements correct the model for the
next block: a layer whose fast faults cost more than a whole inference goes back to the reference
loop after one block. A campaign is then slower than the reference loop by at most what the probe
costs (the runner's construction, one layer's set-up, a golden pass) and, per layer, one block of
the model's error.

Outcomes are the same whichever path a fault takes (invariant 7 of docs/architecture.md): each is
exactly the reference loop's. :attr:`ChoosingRunner.mode` and :attr:`ChoosingRunner.detail` say what
was chosen, for the attrs ``mode_<framework>`` and ``mode_<framework>_detail``
(:mod:`readlx.campaign.runners.modes`).
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from statistics import median
from typing import Any

from readlx._typing import Array
from readlx.campaign.runners.blocks import BlockRunner
from readlx.campaign.runners.costs import CostModel, Measured, Structure, campaign_gain, gains, plan
from readlx.campaign.runners.cut import CutRunner
from readlx.campaign.runners.modes import merged_runs, read_runs, write_runs
from readlx.campaign.runners.options import FastOptions
from readlx.campaign.runners.reference import ReferenceRunner
from readlx.engines.base import Engine
from readlx.errors import FastUnsupported
from readlx.fault_maps.fault import Fault
from readlx.outcomes.records import FaultOutcome
from readlx.outcomes.tasks import CLASSIFICATION, Task

__all__ = ["PROBE_FAULTS", "PROBE_RATIO", "TIMING_FAULTS", "ChoosingRunner", "chosen_mode"]

TIMING_FAULTS = 3
"""Faults that time the reference loop before anything is chosen (their median: one alone may have
met a busy machine)."""

PROBE_FAULTS = 2
"""Faults of its layer the probe runs on the fast runner before the model is trusted."""
PROBE_RATIO = 2.0
"""How many times what the probe can lose the campaign must be predicted to save for it to run."""


class ChoosingRunner(ReferenceRunner):
    """The reference loop, handing the faults of the layers worth it to a fast runner, built when the
    campaign may pay for it.

    Parameters
    ----------
    engine, images, golden, options, task
        As for :class:`~readlx.campaign.runners.reference.ReferenceRunner`.
    make_fast
        Builds the fast runner (:func:`~readlx.campaign.runners.dispatch.fast_factory`); it may raise
        ``FastUnsupported``, and every fault then runs on the reference loop.
    record
        Where a checkpointed campaign keeps the mode and detail of each run of it
        (:func:`~readlx.campaign.runners.modes.write_runs`), so that a resumed run says what the
        whole campaign ran (:meth:`outcome`).

    Examples
    --------
    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> from readlx.campaign.runners.dispatch import fast_factory
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table(), 8)
    >>> images = synthetic(16).images
    >>> golden = eng.infer(images)
    >>> runner = ChoosingRunner(eng, images, golden, make_fast=fast_factory(eng, images, golden))
    >>> outcomes = list(runner.run([Fault("conv1", (0, 0, 0, 0), b) for b in (3, 30)]))
    >>> runner.mode in ("fast", "reference", "mixed"), runner.detail["layers"]["conv1"]["faults"]
    (True, 2)
    """

    def __init__(self, engine: Engine, images: Array, golden: Array, options: FastOptions | None = None,
                 task: Task = CLASSIFICATION, *, make_fast: Callable[[], BlockRunner],
                 record: Path | None = None) -> None:
        super().__init__(engine, images, golden, options, task)
        self._make_fast = make_fast
        self._record_path = record
        self._earlier = read_runs(record) if record is not None else []
        self.fast: BlockRunner | None = None
        self.measured = Measured()
        self.detail: dict[str, Any] = {}
        """What was chosen and why, filled as the campaign runs (the attr ``mode_<framework>_detail``)."""
        self._model: CostModel | None = None
        self._ran: dict[str, Counter[str]] = {}
        self._seconds = {"fast": 0.0, "reference": 0.0}
        self._probe_state = "pending"
        self._probe_prior: dict[str, Any] | None = None
        self._timing_faults = 0
        self._startup: float | None = None
        self._fallback: str | None = None

    @property
    def mode(self) -> str:
        """``"fast"`` when every fault that needed an inference ran on the fast runner (those that
        timed the reference loop aside), ``"reference"`` when none did, else ``"mixed"``."""
        fast = sum(c["fast"] for c in self._ran.values())
        reference = max(0, sum(c["reference"] for c in self._ran.values()) - self._timing_faults)
        return "reference" if not fast else "fast" if not reference else "mixed"

    def outcome(self) -> tuple[str, dict[str, Any]]:
        """The mode and detail of the whole campaign: this run's, after those of the runs it resumed."""
        now = [{"mode": self.mode, "detail": self.detail}] if self._ran or not self._earlier else []
        return merged_runs([*self._earlier, *now])

    def describe(self) -> dict[str, Any]:
        """How the fast runner works, when one was built (the choices are in :attr:`detail`)."""
        return self.fast.describe() if self.fast is not None else {}

    def blocks(self, faults: Sequence[Fault], skip_noop: bool = True) -> Iterator[list[FaultOutcome]]:
        """Results of ``faults`` in order, one fault per list (see :meth:`BlockRunner.blocks`)."""
        faults = list(faults)
        noop = [f.is_noop(self._stored(f)) for f in faults]
        left = Counter(f.layer for f, n in zip(faults, noop, strict=True) if not n)
        size = BlockRunner.block_size(self)
        try:
            for lo in range(0, len(faults), size):
                yield from self._chunk(faults[lo : lo + size], noop[lo : lo + size], left, skip_noop)
                self._record()
        finally:  # also when the campaign stops early (a kill): the record holds what was handed over
            self._record()

    def _chunk(self, chunk: list[Fault], noop: list[bool], left: Counter[str],
               skip_noop: bool) -> Iterator[list[FaultOutcome]]:
        done: dict[int, FaultOutcome] = {}
        todo = [k for k in range(len(chunk)) if not noop[k]]
        while todo and self._startup is None and self._timing_faults < TIMING_FAULTS:
            k = todo.pop(0)
            done[k] = self._reference(chunk[k], skip_noop, left)
            self._timing_faults += 1
        fast, on_fast = self._fast(left), set()
        if fast is not None and todo and self._probe_state == "pending":
            on_fast |= self._run_fast(fast, chunk, self._probe(fast, chunk, todo, left), done, left, skip_noop)
            todo = [k for k in todo if k not in done]
        if fast is not None and todo and self._probe_state == "done":
            on_fast |= self._run_fast(fast, chunk, self._planned(fast, chunk, todo, left), done, left, skip_noop)
        for k in range(len(chunk)):
            if k not in done:
                done[k] = self._reference(chunk[k], skip_noop, None if noop[k] else left)
            if not noop[k]:  # counted as handed over, so that a resumed run does not count it again
                self._ran.setdefault(chunk[k].layer, Counter())["fast" if k in on_fast else "reference"] += 1
            yield [done.pop(k)]

    def _reference(self, fault: Fault, skip_noop: bool, left: Counter[str] | None) -> FaultOutcome:
        """One fault on the reference loop; timed unless it is a no-op (``left`` is ``None``)."""
        t0 = time.perf_counter()
        outcome = self._block([fault], skip_noop)[0]
        if left is not None:
            self.measured.reference.append(time.perf_counter() - t0)
            left[fault.layer] -= 1
            self._seconds["reference"] += time.perf_counter() - t0
        return outcome

    def _fast(self, left: Counter[str]) -> BlockRunner | None:
        """The fast runner, built once the reference loop is timed if at least two faults are left to
        share its cost."""
        timed = self._timing_faults >= TIMING_FAULTS
        if self.fast is None and self._startup is None and timed and sum(left.values()) >= 2:
            t0 = time.perf_counter()
            try:
                self.fast = self._make_fast()
            except FastUnsupported as e:
                self._fallback = str(e)
            self._startup = time.perf_counter() - t0
            if self.fast is not None:
                self._model = CostModel(self.engine.table.names, _structure(self.fast), self.measured)
        return self.fast

    def _ready(self, fast: BlockRunner) -> set[str]:
        """Layers set up on the fast runner (all of them, for a runner without a set-up per layer)."""
        return set(fast.suffix) if isinstance(fast, CutRunner) else set(self.engine.table.names)

    def _in_chunk(self, fast: BlockRunner, chunk: list[Fault], todo: list[int]) -> Counter[str]:
        """Faults to run by layer, those of layers the fast runner runs whole-graph aside."""
        whole = set(fast.whole) if isinstance(fast, CutRunner) else set()
        return Counter(chunk[k].layer for k in todo if chunk[k].layer not in whole)

    def _probe(self, fast: BlockRunner, chunk: list[Fault], todo: list[int], left: Counter[str]) -> list[int]:
        """The probe's faults, or none (and the reason recorded) when the campaign cannot pay for it."""
        assert self._model is not None
        ready = self._ready(fast)
        in_chunk = self._in_chunk(fast, chunk, todo)
        saved = gains(self._model, in_chunk, left, ready)
        if not saved:
            return []  # nothing worth it in this block ("pending"); a later one may hold some
        most = max(in_chunk[layer] for layer in saved)
        ties = [layer for layer in self.engine.table.names if layer in saved and in_chunk[layer] == most]
        layer = ties[len(ties) // 2]
        n = min(PROBE_FAULTS, in_chunk[layer])
        model, r = self._model, self._model.reference()
        risk = model.overhead(layer not in ready) + model.setup(layer) + n * (model.per_fault(layer) - r)
        whole = set(fast.whole) if isinstance(fast, CutRunner) else set()
        gain = campaign_gain(model, Counter({k: v for k, v in left.items() if k not in whole}), ready,
                             BlockRunner.block_size(self))
        self._probe_prior = {"layer": layer, "faults": n, "risk_seconds": _r(risk), "campaign_gain_seconds": _r(gain)}
        if gain <= 0 or gain < PROBE_RATIO * risk:
            self._probe_state = "skipped"
            return []
        self._probe_state = "done"
        return [k for k in todo if chunk[k].layer == layer][:n]

    def _planned(self, fast: BlockRunner, chunk: list[Fault], todo: list[int], left: Counter[str]) -> list[int]:
        assert self._model is not None
        layers = set(plan(self._model, self._in_chunk(fast, chunk, todo), left, self._ready(fast)))
        return [k for k in todo if chunk[k].layer in layers]

    def _run_fast(self, fast: BlockRunner, chunk: list[Fault], chosen: list[int], done: dict[int, FaultOutcome],
                  left: Counter[str], skip_noop: bool) -> set[int]:
        """Run the faults at ``chosen`` on the fast runner, as one block, measuring it; the positions run."""
        t0 = time.perf_counter()
        if isinstance(fast, CutRunner) and chosen:
            self._set_up(fast, list(dict.fromkeys(chunk[k].layer for k in chosen)))
            chosen = [k for k in chosen if chunk[k].layer not in fast.whole]  # suffixes that missed golden
        if chosen:
            n, t1 = len(fast.stats.fault_seconds), time.perf_counter()
            outcomes = list(fast.run([chunk[k] for k in chosen], skip_noop))
            # what the block cost beyond its faults: the golden pass, and whatever else a block costs
            self.measured.golden.append(time.perf_counter() - t1 - sum(fast.stats.fault_seconds[n:]))
            for k, outcome, seconds in zip(chosen, outcomes, fast.stats.fault_seconds[n:], strict=True):
                done[k] = outcome
                self.measured.fast.setdefault(chunk[k].layer, []).append(seconds)
                left[chunk[k].layer] -= 1
        self._seconds["fast"] += time.perf_counter() - t0
        return set(chosen)

    def _set_up(self, fast: CutRunner, layers: list[str]) -> None:
        """Build and check the suffixes of ``layers`` group by group, as the runner's blocks do, timed."""
        for group in fast._groups(layers):
            new = [layer for layer in group if layer not in fast.suffix and layer not in fast.whole]
            t0 = time.perf_counter()
            fast.prepare(group)
            if new:
                self.measured.setups.append((time.perf_counter() - t0, new))

    def _record(self) -> None:
        """Fill :attr:`detail` from what ran so far."""
        self.detail.clear()
        if self._fallback is not None:
            self.detail["fallback"] = self._fallback
        if self._startup is None:
            self.detail["probe"] = "no fast runner built: fewer than two faults to share its cost"
        elif self.fast is not None:  # "done", "skipped" (the campaign could not pay for it) or none worth it
            self.detail["probe"] = "no layer worth it" if self._probe_state == "pending" else self._probe_state
        if self._probe_prior is not None:
            self.detail["probe_prior"] = self._probe_prior
        if self._startup is not None:
            self.detail["fast_startup_seconds"] = _r(self._startup)
        if self.measured.reference:
            self.detail["reference_seconds_per_fault"] = _r(median(self.measured.reference))
        if self.measured.golden:
            self.detail["fast_golden_seconds"] = {"blocks": len(self.measured.golden),
                                                  "first": _r(self.measured.golden[0]),
                                                  "median": _r(median(self.measured.golden))}
        if self._model is not None and self.measured.fast:
            fitted = {"alpha": _r(self._model.alpha())}
            if self._model.structure.per_layer:
                fitted["build_seconds"] = _r(self._model.build())
            self.detail["fast_model"] = fitted
        self.detail["layers"] = {layer: self._layer(layer) for layer in self.engine.table.names if layer in self._ran}
        self.detail["seconds"] = {path: _r(s) for path, s in sorted(self._seconds.items())}
        if self.measured.reference:
            ran = sum(c["fast"] + c["reference"] for c in self._ran.values())
            self.detail["seconds"]["reference_estimate"] = _r(ran * median(self.measured.reference))
        if self.fast is not None:
            self.detail["fast"] = {**self.fast.describe(), **self.fast.ran()}
        if self._record_path is not None and self._ran:
            write_runs(self._record_path, [*self._earlier, {"mode": self.mode, "detail": self.detail}])

    def _layer(self, layer: str) -> dict[str, Any]:
        ran = self._ran[layer]
        out: dict[str, Any] = {"faults": ran["fast"] + ran["reference"], "fast": ran["fast"],
                               "reference": ran["reference"]}
        if layer in self.measured.fast:
            out["fast_seconds_per_fault"] = _r(median(self.measured.fast[layer]))
        setups = [s / len(new) for s, new in self.measured.setups if layer in new]
        if setups:
            out["setup_seconds"] = _r(sum(setups))
        return out


def _structure(fast: BlockRunner) -> Structure:
    """The cost structure of a fast runner: a set-up per layer, with checks on the first and last
    batch, for the probe-and-suffix runners; none for the others (PyTorch's traces once)."""
    if isinstance(fast, CutRunner):
        return Structure(per_layer=True, check_share=min(2, len(fast.layout)) / len(fast.layout))
    return Structure(per_layer=False)


def _r(seconds: float) -> float:
    return float(f"{seconds:.4g}")


def chosen_mode(runner: BlockRunner, mode: str, detail: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The mode a runner ran in and how, once its faults are done: a :class:`ChoosingRunner` says
    what it chose; any other runner ran as it was built.

    >>> from readlx.zoo import ZOO, load_model
    >>> from readlx.data.synthetic import synthetic
    >>> from readlx.engines.torch import TorchEngine
    >>> eng = TorchEngine(load_model("democnn-synthetic10"), ZOO["democnn-synthetic10"].layer_table())
    >>> images = synthetic(2).images
    >>> chosen_mode(ReferenceRunner(eng, images, eng.infer(images)), "reference", {"fallback": "why"})
    ('reference', {'fallback': 'why'})
    """
    if isinstance(runner, ChoosingRunner):
        return runner.outcome()
    return mode, {**detail, **runner.ran()}
