"""Are the converted models the same network? Per-layer and output differences against PyTorch.

Every runtime of a bundle runs the same float32 NCHW inputs (invariant 6 of docs/architecture.md). At the output the
runtimes' own engines are compared with the PyTorch engine on all the given images; per canonical layer,
the activations right after the layer (before BatchNorm) are compared on the first few images: PyTorch
through forward hooks, Keras through a sub-model exposing the bound layers' outputs (NHWC, transposed
back), ONNX through the bound ``Conv``/``Gemm``/``MatMul`` nodes' outputs added as graph outputs.
With labels, each runtime's golden top-1 and its top-1 agreement with PyTorch are reported too.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np

from readlx._typing import Array
from readlx.engines import RUNTIMES, Artifact, Engine
from readlx.errors import ConversionError, InputError, ReadlxError

BASELINE = "torch"
"""The runtime every other one is compared with."""
COMPARED = ("keras", "onnxruntime", "onnxruntime-keras")
"""The runtimes of a bundle compared with the baseline by default."""
DEFAULT_TOLERANCE = 1e-5
OUTPUT = "output"


@dataclass(frozen=True)
class Difference:
    """One tensor of a runtime compared with PyTorch's.

    ``max_rel`` is ``max_abs`` divided by the largest finite magnitude of the PyTorch tensor.
    ``nonfinite_mismatch`` counts elements where one side is NaN or infinite and the other is not the
    same non-finite value. ``bound`` is the largest ``max_abs`` that passes.
    """

    tensor: str
    framework_name: str
    max_abs: float
    max_rel: float
    nonfinite_mismatch: int
    bound: float

    @property
    def ok(self) -> bool:
        return self.nonfinite_mismatch == 0 and self.max_abs <= self.bound


def compare(
    tensor: str,
    framework_name: str,
    actual: Array,
    reference: Array,
    tolerance: float,
    *,
    scaled: bool = False,
) -> Difference:
    """Compare ``actual`` with ``reference``; ``scaled`` multiplies the tolerance by max(1, max |ref|).

    >>> d = compare("output", "y", np.array([1.0, np.nan]), np.array([1.0 + 1e-7, np.nan]), 1e-5)
    >>> d.ok, d.nonfinite_mismatch
    (True, 0)
    """
    if actual.shape != reference.shape:
        raise InputError(f"{tensor}: shape {actual.shape} differs from PyTorch's {reference.shape}")
    a = actual.astype(np.float64)
    r = reference.astype(np.float64)
    finite = np.isfinite(a) & np.isfinite(r)
    same_nonfinite = ~np.isfinite(a) & ~np.isfinite(r) & ((np.isnan(a) & np.isnan(r)) | (a == r))
    mismatch = int(np.count_nonzero(~finite & ~same_nonfinite))
    diff = np.abs(a[finite] - r[finite])
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(r[finite]).max()) if diff.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    bound = tolerance * max(1.0, scale) if scaled else tolerance
    return Difference(tensor, framework_name, max_abs, max_rel, mismatch, bound)


@dataclass(frozen=True)
class RuntimeReport:
    """One runtime against PyTorch: the output, each canonical layer, top-1 and timing."""

    framework: str
    output: Difference
    layers: tuple[Difference, ...] = ()
    top1: float | None = None
    top1_agreement: float | None = None
    seconds: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.output.ok and all(d.ok for d in self.layers)


@dataclass(frozen=True)
class EquivalenceReport:
    """Differences of every runtime against PyTorch on the same inputs.

    Examples
    --------
    >>> d = Difference("output", "output", 1e-6, 1e-7, 0, 1e-5)
    >>> r = EquivalenceReport("m", 4, 4, "abc", 1e-5, None, None, (RuntimeReport("keras", d),))
    >>> r.ok, EquivalenceReport.from_dict(r.to_dict()) == r
    (True, True)
    """

    model: str
    n_images: int
    n_layer_images: int
    inputs: str
    tolerance: float
    baseline_top1: float | None
    baseline_seconds: float | None
    runtimes: tuple[RuntimeReport, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runtimes)

    def runtime(self, framework: str) -> RuntimeReport:
        for report in self.runtimes:
            if report.framework == framework:
                return report
        known = ", ".join(r.framework for r in self.runtimes)
        raise InputError(f"no runtime {framework!r} in the equivalence report; present: {known}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | None = None) -> EquivalenceReport:
        try:
            runtimes = tuple(_runtime_from_dict(r) for r in data["runtimes"])
            fields = {k: data[k] for k in ("model", "n_images", "n_layer_images", "inputs", "tolerance")}
            return cls(
                **fields,
                baseline_top1=data.get("baseline_top1", data.get("reference_top1")),  # older bundles
                baseline_seconds=data.get("baseline_seconds", data.get("reference_seconds")),
                runtimes=runtimes,
            )
        except (KeyError, TypeError) as e:
            raise InputError(f"not a readlx equivalence report: {e!r}", path=path) from e

    def format(self) -> str:
        """A text table: one row per runtime and tensor, then top-1 and timing."""
        head = (
            f"{self.model}: runtimes vs PyTorch on {self.n_images} images (layers on "
            f"{self.n_layer_images}), inputs {self.inputs}, tolerance {self.tolerance:g} x max(1, largest |value|)"
        )
        rows = [
            f"{'runtime':<18} {'tensor':<20} {'name':<34} {'max abs':>10} {'max rel':>10} "
            f"{'non-fin':>7}  status"
        ]
        for report in self.runtimes:
            for d in (report.output, *report.layers):
                rows.append(
                    f"{report.framework:<18} {d.tensor:<20} {_clip(d.framework_name, 34):<34} "
                    f"{d.max_abs:>10.3g} {d.max_rel:>10.3g} {d.nonfinite_mismatch:>7}  "
                    f"{'ok' if d.ok else 'FAIL'}"
                )
        return "\n".join([head, *rows, *self._summary()])

    def _summary(self) -> list[str]:
        lines = []
        if self.baseline_top1 is not None:
            parts = [f"torch {self.baseline_top1:.2%}"] + [
                f"{r.framework} {r.top1:.2%} (agreement {r.top1_agreement:.2%})"
                for r in self.runtimes
                if r.top1 is not None and r.top1_agreement is not None
            ]
            lines.append("golden top-1: " + " | ".join(parts))
        if self.baseline_seconds is not None:
            parts = [f"torch {self.baseline_seconds:.2f}"] + [
                f"{r.framework} {r.seconds:.2f}" for r in self.runtimes if r.seconds is not None
            ]
            lines.append(f"inference seconds for {self.n_images} images: " + " | ".join(parts))
        lines.append("status: " + ("ok" if self.ok else "FAIL"))
        return lines


def _runtime_from_dict(data: Mapping[str, Any]) -> RuntimeReport:
    return RuntimeReport(
        framework=data["framework"],
        output=Difference(**data["output"]),
        layers=tuple(Difference(**d) for d in data.get("layers", ())),
        top1=data.get("top1"),
        top1_agreement=data.get("top1_agreement"),
        seconds=data.get("seconds"),
        settings=dict(data.get("settings", {})),
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


# -- running ---------------------------------------------------------------------------------------
def check_equivalence(
    artifact: Artifact,
    images: Array,
    *,
    labels: Array | None = None,
    runtimes: Sequence[str] = COMPARED,
    tolerance: float = DEFAULT_TOLERANCE,
    layer_images: int = 32,
    batch_size: int = 256,
    inputs: str | None = None,
) -> EquivalenceReport:
    """Compare every runtime of ``artifact`` with the baseline (PyTorch) on ``images``.

    Parameters
    ----------
    artifact
        The converted model (:meth:`readlx.converters.bundle.Bundle.artifact`).
    images
        float32 NCHW inputs, normalized (the same bytes reach every runtime).
    labels
        Optional integer labels: adds each runtime's golden top-1 and its agreement with PyTorch.
    runtimes
        Runtimes to compare (names of :data:`readlx.engines.registry.RUNTIMES` with an activation probe).
    tolerance
        Largest max-abs difference that passes, relative to the tensor's scale: at the output and at
        each layer the bound is ``tolerance * max(1, largest |value|)`` of PyTorch's tensor, so logits
        of tens pass with a few float32 ulps of difference.
    layer_images
        How many of the first images the per-layer comparison uses.
    batch_size
        Batch size of every engine.
    inputs
        How the inputs are described in the report (default: their sha256).
    """
    _check_inputs(images, labels)
    baseline = RUNTIMES.build(BASELINE, artifact, batch_size=batch_size)
    base_out, base_seconds = _timed(baseline.infer, images)
    probe = images[:layer_images]
    base_layers = _activations(baseline, probe, batch_size)
    reports = tuple(
        _runtime_report(RUNTIMES.build(fw, artifact, batch_size=batch_size), images, labels, base_out,
                        (probe, base_layers), tolerance, batch_size)
        for fw in runtimes
    )
    return EquivalenceReport(
        model=artifact.table.model,
        n_images=int(len(images)),
        n_layer_images=int(len(probe)),
        inputs=inputs or "sha256 " + hashlib.sha256(images.tobytes()).hexdigest()[:16],
        tolerance=tolerance,
        baseline_top1=None if labels is None else _top1(base_out, labels),
        baseline_seconds=base_seconds,
        runtimes=reports,
    )


def _runtime_report(engine: Engine, images: Array, labels: Array | None, base_out: Array,
                    probe: tuple[Array, Mapping[str, Array]], tolerance: float,
                    batch_size: int) -> RuntimeReport:
    out, seconds = _timed(engine.infer, images)
    return RuntimeReport(
        framework=engine.framework,
        output=compare(OUTPUT, OUTPUT, out, base_out, tolerance, scaled=True),
        layers=_layer_differences(engine, probe[0], probe[1], tolerance, batch_size),
        top1=None if labels is None else _top1(out, labels),
        top1_agreement=None if labels is None else _agreement(out, base_out),
        seconds=seconds,
        settings=engine.describe(),
    )


def _check_inputs(images: Array, labels: Array | None) -> None:
    if images.dtype != np.float32 or images.ndim != 4 or len(images) == 0:
        raise InputError(f"images must be non-empty float32 NCHW, got {images.dtype} {images.shape}")
    if labels is not None and np.shape(labels) != (len(images),):
        raise InputError(f"{np.shape(labels)} labels for {len(images)} images")


def _timed(fn: Callable[[Array], Array], images: Array) -> tuple[Array, float]:
    """``fn(images)`` and its seconds; a runtime that cannot run the converted model is a
    :class:`ConversionError` naming it (its engine's own error is chained)."""
    try:
        return _timed_run(fn, images)
    except ReadlxError:
        raise
    except Exception as e:  # a runtime's own error type (RuntimeError, InvalidArgument, ...)
        owner = getattr(getattr(fn, "__self__", None), "framework", "a runtime")
        raise ConversionError(f"{owner} cannot run the converted model on {tuple(images.shape)} images: "
                              f"{type(e).__name__}: {str(e)[:500]}") from e


def _timed_run(fn: Callable[[Array], Array], images: Array) -> tuple[Array, float]:
    start = time.perf_counter()
    out = fn(images)
    return out, time.perf_counter() - start


def _top1(logits: Array, labels: Array) -> float:
    return float(np.mean(_predicted(logits) == labels))


def _agreement(logits: Array, reference: Array) -> float:
    return float(np.mean(_predicted(logits) == _predicted(reference)))


def _predicted(logits: Array) -> Array:
    # First maximum, NumPy semantics: the classifier's (invariant 4 of docs/architecture.md).
    return cast(Array, logits.reshape(len(logits), -1).argmax(1))


def _layer_differences(
    engine: Engine,
    images: Array,
    baseline: Mapping[str, Array],
    tolerance: float,
    batch_size: int,
) -> tuple[Difference, ...]:
    activations = _activations(engine, images, batch_size)
    return tuple(
        compare(layer, engine.layer_name(layer), activations[layer], baseline[layer], tolerance, scaled=True)
        for layer in engine.table.names
    )


def _activations(engine: Engine, images: Array, batch_size: int) -> dict[str, Array]:
    probe = RUNTIMES[engine.framework].activations
    if probe is None:
        raise InputError(f"runtime {engine.framework!r} has no per-layer probe for the equivalence report")
    return probe(engine, images, batch_size)
