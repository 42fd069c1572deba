"""Fixed-shape refill (readlx.campaign.runners.refill): the plain runs' outcomes, and cuts refused by name."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn

from readlx.campaign import run_fault
from readlx.campaign.runners import FastOptions, TorchFastRunner
from readlx.campaign.runners.golden_batch import GoldenBatch, golden_batch
from readlx.campaign.runners.refill import Piece, Pool, Refill, RowDependence, rows_of
from readlx.data.synthetic import synthetic
from readlx.engines.fxgraph import CutGraph
from readlx.engines.torch import TorchEngine
from readlx.fault_maps.fault import Fault, FaultKind, Site
from readlx.graph import LayerTable
from readlx.outcomes.records import FaultOutcome
from readlx.zoo import ZOO, load_model

MODEL = "democnn-synthetic10"
N_IMAGES = 45  # 5 x 8 + 5 and 2 x 16 + 13: a shorter last batch, which keeps its own layout
HELD = FastOptions(cache_bytes=400_000, refill=True)  # golden values of one batch of the demo model at a time


def _faults(table: LayerTable, seed: int = 3) -> list[Fault]:
    """Low, middle and high bits of every layer, stuck-ats, and permanent and transient activation faults."""
    rng = np.random.default_rng(seed)
    faults = []
    for layer in table:
        for bit in (0, 2, 7, 13, 19, 23, 26, 30, 31):
            faults.append(Fault(layer.name, tuple(int(rng.integers(s)) for s in layer.shape), bit))
        faults.append(Fault(layer.name, tuple(int(rng.integers(s)) for s in layer.shape), 29, FaultKind.STUCK_AT_1))
    faults.append(Fault("conv2", (1, 2, 2), 4, site=Site.ACTIVATION))
    faults.append(Fault("conv2", (), (3, 12, 30), site=Site.ACTIVATION, seed=11))
    return faults


def _same(a: list[FaultOutcome], b: list[FaultOutcome]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x.codes, y.codes) and np.array_equal(x.prediction, y.prediction)
                                    and x.noop == y.noop for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("batch_size", [8, 16])
@pytest.mark.parametrize("options", [FastOptions(refill=True), FastOptions(cache_bytes=1, block_faults=5, refill=True),
                                     FastOptions(channel_only=False, checks=3, refill=True), HELD,
                                     FastOptions(stack=3), FastOptions(stack=2, checks=3, channel_only=False)])
def test_refill_gives_the_reference_loops_outcomes(batch_size: int, options: FastOptions) -> None:
    engine = TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=batch_size)
    data = synthetic(N_IMAGES)
    golden = engine.infer(data.images)
    faults = _faults(engine.table)
    runner = TorchFastRunner(engine, data.images, golden, options)
    refilled = list(runner.run(faults))
    plain = list(TorchFastRunner(engine, data.images, golden,
                                 FastOptions(options.checks, options.cache_bytes, options.block_faults,
                                             options.channel_only, refill=False)).run(faults))
    stored = {f.layer: engine.weight(f.layer) for f in faults}
    reference = [run_fault(engine, f, data.images, golden, np.float32(0) if f.is_activation
                           else stored[f.layer][f.index], True) for f in faults]
    assert _same(refilled, plain) and _same(refilled, reference)
    # the path really ran: rows were retired, others ran in pooled batches, no cut was refused
    assert runner.refill.rows_retired > 0 and runner.refill.rows_run > 0
    assert runner.refill.verified and not runner.refill.refused and runner.refill.off is None
    assert runner.refill.summary()["idle"] is None
    assert runner.refill.summary()["rows_per_batch"] == batch_size * (options.stack or 1)
    if options is HELD:  # chunks of one batch: pooled rows wait for the next chunks' batches
        assert runner.chunk_batches == 1 and runner.refill.held_over > 0


def test_refill_says_why_it_never_started_without_a_full_batch() -> None:
    data = synthetic(N_IMAGES)
    engine = TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=N_IMAGES + 8)
    runner = TorchFastRunner(engine, data.images, engine.infer(data.images), FastOptions(refill=True))
    assert runner.refill.summary()["idle"] is None  # nothing asked yet
    list(runner.run(_faults(engine.table)))
    summary = runner.refill.summary()
    assert summary["rows_retired"] == summary["rows_run_pooled"] == 0 and summary["off"] is None
    assert summary["idle"] == (f"no batch of {N_IMAGES + 8} images: rows are checked, retired and refilled in "
                               "full batches only")


class BatchMean(nn.Module):
    """Subtracts the batch's mean: every row depends on all the others."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.linear = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = x - x.mean(0, keepdim=True)
        return self.linear(torch.flatten(x, 1))


def test_a_node_that_mixes_rows_refuses_its_cuts_by_name() -> None:
    torch.manual_seed(0)
    model = BatchMean().eval()
    names = ["conv1", "conv2", "linear"]
    engine = TorchEngine(model, LayerTable.from_torch(model, "batch-mean"), batch_size=4)
    images = np.random.default_rng(0).standard_normal((12, 3, 8, 8)).astype(np.float32)
    golden = engine.infer(images)
    faults = [Fault(n, (0,) * len(engine.weight(n).shape), b) for n in names[:2] for b in (1, 8, 25, 30)]
    runner = TorchFastRunner(engine, images, golden, FastOptions(refill=True))
    fast = list(runner.run(faults))
    reference = [run_fault(engine, f, images, golden, engine.weight(f.layer)[f.index], True) for f in faults]
    assert _same(fast, reference)
    # conv1's faults reach the cut before conv2, with the mean after it: refused; conv2's reach the
    # cut before linear, past the mean, where rows are apart again
    assert runner.refill.refused == {"conv2": "node 'mean': mean along the batch axis"}
    assert [runner.graph.name(c) for c in runner.refill.verified] == ["linear"]


def _graph_and_goldens(module_calls: dict[str, Any]) -> tuple[CutGraph, list[GoldenBatch]]:
    model = load_model(MODEL)
    graph = CutGraph(model, ZOO[MODEL].layer_table().names, module_calls=module_calls)
    images = torch.from_numpy(synthetic(16).images)
    with torch.inference_mode():
        goldens = [golden_batch(graph, images[s : s + 8], s) for s in (0, 8)]
    return graph, goldens


def test_kernels_whose_rows_depend_on_their_position_fail_the_numeric_check() -> None:
    conv3 = load_model(MODEL).get_submodule("conv3")

    def by_position(x: torch.Tensor) -> torch.Tensor:  # a "kernel" that sums in another order per row
        out: torch.Tensor = conv3(x)
        return out + 1e-3 * torch.arange(len(x), dtype=out.dtype).view(-1, 1, 1, 1)

    graph, goldens = _graph_and_goldens({"conv3": by_position})
    refill = Refill(graph, 8)
    with torch.inference_mode():
        assert not refill.usable(graph.spans["conv3"].first, goldens)
        assert refill.usable(graph.spans["linear"].first, goldens)  # conv3 is not after this cut
    (why,) = refill.refused.values()
    assert "packed reversed and shifted" in why


def test_a_filling_row_that_changes_with_its_neighbours_stops_refill() -> None:
    conv3 = load_model(MODEL).get_submodule("conv3")

    def poisoned(x: torch.Tensor) -> torch.Tensor:  # golden rows alone pass; an infinite row turns all NaN
        out: torch.Tensor = conv3(x)
        return out + 0 * out.amax()

    graph, goldens = _graph_and_goldens({"conv3": poisoned})
    cut = graph.spans["conv3"].first
    refill = Refill(graph, 8)
    with torch.inference_mode():
        assert refill.usable(cut, goldens)
        rows = torch.arange(3)
        values = rows_of(goldens[0].values, graph.live[cut], rows)
        values = {i: v.clone().fill_(float("inf")) if v.is_floating_point() else v for i, v in values.items()}
        refill.pools[cut] = Pool([Piece([(0, 0), (0, 1), (0, 2)], values)], 3)
        seen: list[Any] = []
        refill.drain(lambda keys, out, spent: seen.append(keys))  # no whole batch yet: nothing runs
        assert not seen
        with pytest.raises(RowDependence, match="golden rows filling a batch"):
            refill.drain(lambda keys, out, spent: seen.append(keys), goldens[1])
    refill.disable("test")
    assert not refill.pools and not refill.usable(cut, goldens)


def test_kernels_whose_rows_depend_on_the_batch_length_fail_the_stacked_check() -> None:
    conv3 = load_model(MODEL).get_submodule("conv3")

    def by_length(x: torch.Tensor) -> torch.Tensor:  # a "kernel" that sums otherwise on longer batches
        out: torch.Tensor = conv3(x)
        return out + 1e-3 * float(len(x) > 8)

    graph, goldens = _graph_and_goldens({"conv3": by_length})
    cut = graph.spans["conv3"].first
    with torch.inference_mode():
        assert Refill(graph, 8).usable(cut, goldens)  # one batch's length: rows are independent
        stacked = Refill(graph, 8, stack=2)
        assert not stacked.usable(cut, goldens)
        assert stacked.usable(graph.spans["linear"].first, goldens)
    assert stacked.refused == {"conv3": "rows 0.. and 8.. packed reversed and shifted, 16 rows at once, gave "
                                        "other outputs than in their own batches"}


def test_a_stacked_pool_fills_its_last_batch_with_repeated_golden_rows() -> None:
    graph, goldens = _graph_and_goldens({})
    cut = graph.spans["conv3"].first
    refill = Refill(graph, 8, stack=3)  # 3 pending rows and 21 filling ones: each filler row up to 3 times
    seen: list[tuple[list[tuple[int, int]], torch.Tensor]] = []
    with torch.inference_mode():
        assert refill.usable(cut, goldens)
        rows = torch.tensor([5, 0, 7])
        values = rows_of(goldens[0].values, graph.live[cut], rows)
        refill.pools[cut] = Pool([Piece([(2, 5), (2, 0), (2, 7)], values)], 3)
        refill.drain(lambda keys, out, spent: seen.append((keys, out)))
        assert not seen  # fewer than 24 rows: nothing runs before the chunk's end
        refill.drain(lambda keys, out, spent: seen.append((keys, out)), goldens[1])
    ((keys, out),) = seen
    assert keys == [(2, 5), (2, 0), (2, 7)] and refill.rows_run == 3 and not refill.pending()
    assert torch.equal(out.view(torch.int32), goldens[0].output.index_select(0, rows).view(torch.int32))


def test_stack_must_be_a_positive_count() -> None:
    from readlx.errors import ReadlxError

    with pytest.raises(ReadlxError, match="stack must be >= 1 or None, got 0"):
        FastOptions(stack=0)


@pytest.mark.gpu
def test_on_a_cuda_device_faults_run_stacked_with_the_reference_loops_outcomes() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device here (torch.cuda.is_available() is False)")
    engine = TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8, device="cuda")
    data = synthetic(N_IMAGES)
    golden = engine.infer(data.images)
    faults = _faults(engine.table)
    runner = TorchFastRunner(engine, data.images, golden)  # the device's default: 8 batches at once
    stacked = list(runner.run(faults))
    stored = {f.layer: engine.weight(f.layer) for f in faults}
    reference = [run_fault(engine, f, data.images, golden, np.float32(0) if f.is_activation
                           else stored[f.layer][f.index], True) for f in faults]
    assert _same(stacked, reference)
    summary = runner.refill.summary()
    assert summary["rows_per_batch"] == 64 and summary["off"] is None
    assert summary["rows_run_pooled"] > 0 or summary["cuts_refused"]  # stacked, or refused by name


def test_pending_rows_are_bounded_as_the_golden_values_are() -> None:
    engine = TorchEngine(load_model(MODEL), ZOO[MODEL].layer_table(), batch_size=8)
    data = synthetic(N_IMAGES)
    golden = engine.infer(data.images)
    # faults of one layer whose rows rarely come back fill one pool, which runs 8 batches at once, over
    # chunks of one batch held over: unbounded, it held 67 rows (274,432 bytes) at once
    faults = [Fault("conv2", (o, 0, 1, 1), 30) for o in range(6)]
    options = FastOptions(cache_bytes=100_000, stack=8)
    runner = TorchFastRunner(engine, data.images, golden, options)
    plain = TorchFastRunner(engine, data.images, golden, FastOptions(cache_bytes=100_000, stack=1))
    assert _same(list(runner.run(faults)), list(plain.run(faults)))
    (cut,) = runner.refill.verified
    with torch.inference_mode():
        gb = golden_batch(runner.graph, torch.from_numpy(data.images[:8]), 0)
    one_batch = sum(gb.values[i].element_size() * gb.values[i].numel() for i in runner.graph.live[cut])
    assert runner.chunk_batches == 1 and runner.refill.held_over > 0 and runner.refill.rows_run > 0
    # half the golden values' bound, passed by at most one fault's rows of a chunk before they run
    assert runner.refill.peak_bytes <= options.cache_bytes // 2 + one_batch
