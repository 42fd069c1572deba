"""Models from outside the zoo on three runtimes: conversion time, equivalence, no-op control, processes.

For torchvision ``resnet18``, ``mobilenet_v3_small``, ``squeezenet1_1`` and ``efficientnet_b0`` (random
weights, 10 classes, 3x64x64), a Keras-built CNN and an ONNX file exported with ``torch.onnx.export``'s
defaults (BatchNorm folded), it runs ``readlx.run`` on ``torch``, ``keras`` and ``onnxruntime`` with a
fresh conversion cache, then the no-op control (stuck-at faults equal to the stored bits of the first
weight, forced through inference), and prints per model: the conversion steps' seconds, the output's
largest difference per runtime against PyTorch, the masked share of the control, the most processes
this one had below it at once during the conversion, and peak resident memory (this process and its
largest child).

Run: ``.venv/bin/python benchmarks/any_model.py [MODEL ...]``.
"""
from __future__ import annotations

import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

THREE = ("torch", "keras", "onnxruntime")
SHAPE = (3, 64, 64)


def descendants(pid: int) -> int:
    """Processes below ``pid`` now (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    below, frontier = 0, {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        below += len(frontier)
    return below


class ProcessWatch:
    """The largest number of descendant processes seen, polled every 0.1 s."""

    def __init__(self) -> None:
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, descendants(os.getpid()))
            time.sleep(0.1)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def torchvision_model(name: str) -> Any:
    import torch
    import torchvision

    torch.manual_seed(0)
    return getattr(torchvision.models, name)(num_classes=10).eval()


def keras_cnn() -> Any:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    x = tf.keras.Input((SHAPE[1], SHAPE[2], SHAPE[0]))
    y = x
    for k, width in enumerate((16, 32)):
        y = tf.keras.layers.Conv2D(width, 3, strides=2, padding="same", name=f"conv{k}")(y)
        y = tf.keras.layers.BatchNormalization(name=f"bn{k}")(y)
        y = tf.keras.layers.ReLU()(y)
        y = tf.keras.layers.DepthwiseConv2D(3, padding="same", name=f"dw{k}")(y)
        y = tf.keras.layers.BatchNormalization(name=f"dw_bn{k}")(y)
        y = tf.keras.layers.ReLU()(y)
    y = tf.keras.layers.GlobalAveragePooling2D()(y)
    return tf.keras.Model(x, tf.keras.layers.Dense(10, name="head")(y), name="keras_cnn")


def onnx_default_export(where: Path) -> Path:
    import torch

    path = where / "resnet18_default.onnx"
    torch.onnx.export(torchvision_model("resnet18"), (torch.zeros(1, *SHAPE),), str(path), dynamo=False)
    return path


def noop_faults(model: str, layer: str, weight: np.ndarray) -> Any:
    from readlx.fault_maps import Fault, FaultKind, FaultList

    word = int(np.ascontiguousarray(weight, np.float32).reshape(-1)[:1].view(np.uint32)[0])
    index = (0,) * weight.ndim
    return FaultList.from_faults(model, tuple(
        Fault(layer, index, bit, FaultKind.STUCK_AT_1 if word >> bit & 1 else FaultKind.STUCK_AT_0)
        for bit in (0, 23, 30, 31)))


def measure(label: str, model: Any, data: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    import readlx
    from readlx.converters.bundle import load_bundle
    from readlx.converters.cache import cache_root

    start = time.perf_counter()
    with ProcessWatch() as watch:
        readlx.run(model, data, frameworks=THREE, sample=8, progress=False, name=label)
    seconds = time.perf_counter() - start
    (path,) = [p for p in (cache_root() / "bundles").iterdir() if p.is_dir() and p.name not in DONE]
    DONE.add(path.name)
    bundle = load_bundle(path)
    first = bundle.table.names[0]
    weight = bundle.state_dict()[f"{first}.weight"]
    noop = readlx.run(model, data, noop_faults(label, first, weight), frameworks=THREE, force_noop=True,
                      progress=False, name=label)
    report = bundle.report
    return {
        "model": label, "origin": bundle.origin, "layers": len(bundle.table), "first run s": seconds,
        **{f"{k} s": v for k, v in bundle.meta["seconds"].items()},
        **{f"max abs {r.framework}": r.output.max_abs for r in (report.runtimes if report else ())},
        "no-op masked": f"{int(noop.masked.sum())}/{noop.masked.size * len(data[0])}",
        "processes (most)": watch.most,
        "peak RSS MiB self/child": f"{_rss(resource.RUSAGE_SELF)}/{_rss(resource.RUSAGE_CHILDREN)}",
    }


DONE: set[str] = set()


def _rss(who: int) -> int:
    return resource.getrusage(who).ru_maxrss // 1024


def main(argv: list[str]) -> int:
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((16, *SHAPE)).astype(np.float32), rng.integers(0, 10, 16))
    names = argv or ["resnet18", "mobilenet_v3_small", "squeezenet1_1", "efficientnet_b0", "keras_cnn",
                     "onnx_default"]
    with tempfile.TemporaryDirectory(prefix="readlx-any-model-") as work:
        os.environ["READLX_CACHE"] = str(Path(work) / "cache")
        rows = []
        for name in names:
            model: Any = (keras_cnn() if name == "keras_cnn" else onnx_default_export(Path(work))
                          if name == "onnx_default" else torchvision_model(name))
            rows.append(measure(name, model, data))
            print(_format(rows[-1]), flush=True)
    return 0


def _format(row: dict[str, Any]) -> str:
    return " | ".join(f"{k}: {v:.3g}" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
