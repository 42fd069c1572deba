"""The fast campaign runner of the ONNX Runtime engine: each fault runs the suffix subgraph of its layer.

A layer's *cut* sits before the first node that reads its (fed) weight. The values live across it are
the tensors made before the cut and read at or after it: the layer's input and, inside a residual
block, the skip connection. The suffix subgraph from those values to the output
(``onnx.utils.Extractor``) runs in a session with the engine's own settings, its weights still fed
inputs, so :meth:`OnnxRuntimeEngine.inject` corrupts it as it corrupts the whole graph. A probe session
(the whole graph with every cut's values as extra outputs) gives the golden values of a chunk once.

ONNX Runtime optimizes every graph on its own, so start-up checks that the probe reproduces the
engine's golden outputs and that each suffix reproduces them from the probe's values, bit for bit, on
the first and the last (possibly shorter) batch. A layer whose suffix does not runs whole-graph
inference instead, and :meth:`OrtFastRunner.describe` lists it. Batches keep the engine's fixed layout;
no image is dropped and no run stops early, since ONNX Runtime is not batch invariant.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import onnx
from onnx.utils import Extractor

from readlx.engines.base import batches
from readlx.engines.onnxruntime import OnnxRuntimeEngine
from readlx.fast.blocks import BlockRunner, FastStats
from readlx.fast.options import FastOptions, FastUnsupported
from readlx.fault_maps.fault import Fault
from readlx.tasks import CLASSIFICATION, Task

ChunkValues = list[tuple[slice, dict[str, np.ndarray]]]


def live_at(proto: onnx.ModelProto, weight: str, constants: set[str]) -> list[str]:
    """Tensors made before the first node that reads ``weight`` and read at or after it, in order.

    Examples
    --------
    >>> from onnx import helper
    >>> nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Conv", ["a", "w"], ["b"]),
    ...          helper.make_node("Add", ["b", "a"], ["y"])]
    >>> g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, 1, None) for n in "xw"],
    ...                       [helper.make_tensor_value_info("y", 1, None)])
    >>> live_at(helper.make_model(g), "w", {"w"})
    ['a']
    """
    nodes = list(proto.graph.node)
    cut = next((i for i, n in enumerate(nodes) if weight in n.input), None)
    if cut is None:
        raise FastUnsupported(f"no node of the ONNX graph reads {weight!r}")
    made_before = {t for n in nodes[:cut] for t in n.output} | {i.name for i in proto.graph.input}
    read_after = [t for n in nodes[cut:] for t in n.input]
    return list(dict.fromkeys(t for t in read_after if t in made_before and t not in constants))


def with_outputs(proto: onnx.ModelProto, tensors: list[str]) -> onnx.ModelProto:
    """A copy of ``proto`` that also outputs ``tensors``."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    out.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in tensors)
    return out


class OrtFastRunner(BlockRunner):
    """Runs faults on an :class:`OnnxRuntimeEngine` with the outcomes of :func:`readlx.campaign.run_fault`.

    Parameters
    ----------
    engine
        The engine; its fed weights are only changed inside ``engine.inject``.
    images, golden
        The campaign's images and the engine's golden outputs for them.
    options
        Speed and memory knobs (``checks`` is not used: no run stops early).
    task
        The classifier of the outputs.

    Raises
    ------
    FastUnsupported
        When the probe session does not reproduce the engine's golden outputs.
    """

    def __init__(self, engine: OnnxRuntimeEngine, images: np.ndarray, golden: np.ndarray,
                 options: FastOptions | None = None, task: Task = CLASSIFICATION) -> None:
        super().__init__()
        start = time.perf_counter()
        self.engine, self.images, self.golden, self.task = engine, images, golden, task
        self.options = options or FastOptions()
        self.layout = batches(len(images), engine.batch_size)
        proto = engine.proto
        constants = set(engine.weight_feeds) | {t.name for t in proto.graph.initializer}
        live = {layer: live_at(proto, engine.fed_name(layer), constants) for layer in engine.table.names}
        self.whole = [layer for layer in engine.table.names if engine.image_input in live[layer]]
        self.cut_values = list(dict.fromkeys(t for layer, names in live.items() if layer not in self.whole
                                             for t in names))
        self.probe = engine.session_for(with_outputs(proto, self.cut_values)) if self.cut_values else None
        self.suffix = self._suffix_sessions(proto, {k: v for k, v in live.items() if k not in self.whole})
        self.chunk_batches = self._self_check()
        self._kept: ChunkValues | None = None
        self.stats = FastStats(startup_seconds=time.perf_counter() - start)

    def _suffix_sessions(self, proto: onnx.ModelProto, live: dict[str, list[str]]) -> dict[str, tuple[Any, list[str], list[str]]]:
        """Per layer: the suffix session, its live inputs and the fed weights it reads."""
        inferred = onnx.shape_inference.infer_shapes(proto)
        output = proto.graph.output[0].name
        feeds = list(self.engine.weight_feeds)
        sessions = {}
        for layer, names in live.items():
            session = self.engine.session_for(Extractor(inferred).extract_model([*names, *feeds], [output]))
            used = [i.name for i in session.get_inputs() if i.name in self.engine.weight_feeds]
            sessions[layer] = (session, names, used)
        return sessions

    def _self_check(self) -> int:
        """Drop the suffixes that do not reproduce golden; return the batches per chunk."""
        per_batch = 1
        for rows in self.layout[:1] + self.layout[1:][-1:]:  # the last batch may be shorter
            values = self._probe(rows)
            per_batch = max(per_batch, sum(v.nbytes for v in values.values()))
            for layer in list(self.suffix):
                if not _same(self._run_suffix(layer, values), self.golden[rows]):
                    del self.suffix[layer]
                    self.whole.append(layer)
        return max(1, self.options.cache_bytes // per_batch)

    def describe(self) -> dict[str, Any]:
        """How this runner works, for the campaign's attrs (deterministic: no timings)."""
        return {
            "suffix_layers": sorted(self.suffix),
            "whole_graph_layers": sorted(self.whole),
            "chunk_images": self.chunk_batches * self.engine.batch_size,
            "block_faults": self.block_size(),
        }

    def _probe(self, rows: slice) -> dict[str, np.ndarray]:
        """Golden values at every cut for one batch, after checking the probe's output against golden."""
        if self.probe is None:
            return {}
        feeds = {self.engine.image_input: self.engine.layout_images(self.images[rows]), **self.engine.weight_feeds}
        out, *values = self.probe.run(None, feeds)
        if not _same(np.asarray(out, np.float32), self.golden[rows]):
            raise FastUnsupported(f"the probe session's golden outputs differ from the engine's for images "
                                  f"{rows.start}..{rows.stop - 1}")
        return dict(zip(self.cut_values, values))

    def _run_suffix(self, layer: str, values: dict[str, np.ndarray]) -> np.ndarray:
        session, names, used = self.suffix[layer]
        feeds = {**{n: values[n] for n in names}, **{n: self.engine.weight_feeds[n] for n in used}}
        return np.asarray(session.run(None, feeds)[0], dtype=np.float32)

    def _chunk_golden(self, chunk: list[slice], keep: bool) -> ChunkValues:
        if keep and self._kept is not None:
            return self._kept
        values = [(rows, self._probe(rows)) for rows in chunk]
        self._kept = values if keep else None
        return values

    def _fault_chunk(self, fault: Fault, goldens: ChunkValues, lo: int, hi: int) -> np.ndarray:
        with self.engine.inject(fault):
            if fault.layer not in self.suffix:  # whole batches of the layout: the engine's own split
                return self.engine.infer(self.images[lo:hi])
            return np.concatenate([self._run_suffix(fault.layer, values) for _, values in goldens])


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), np.ascontiguousarray(b, np.float32).view(np.uint32))
