"""The one registry of runtimes: a framework name -> how to build its engine from an artifact, its
exact fast runner (if any), and how to read its per-layer activations for the equivalence report.

Each runtime module registers itself when imported, and :mod:`readlx.engines` imports every runtime
module explicitly, so importing :mod:`readlx.engines` fills :data:`RUNTIMES`. Families of runtimes
whose names carry options (``reference-im2col-tf32``, ``torch-mkldnn-off-threads1``) register a
:class:`RuntimeFamily` that parses the name.

Examples
--------
>>> import readlx.engines
>>> RUNTIMES.names()
['keras', 'onnxruntime', 'onnxruntime-keras', 'torch']
>>> RUNTIMES["reference-im2col-tf32"].name
'reference-im2col-tf32'
>>> RUNTIMES["tensorrt"]
Traceback (most recent call last):
...
readlx.errors.RegistryError: unknown runtime 'tensorrt'; available: keras, onnxruntime, onnxruntime-keras, torch,
torch[-mkldnn-off][-threadsN], reference-ALGORITHM-ARITHMETIC[+PATTERN=VALUE...]
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from readlx._typing import Array
from readlx.errors import ArgumentError, ReadlxError, RegistryError

if TYPE_CHECKING:  # pragma: no cover
    from readlx.engines.artifact import Artifact
    from readlx.engines.base import Engine


class Builder(Protocol):
    """Builds a runtime's engine on an artifact; options are the runtime's own keyword arguments,
    ``batch_size`` always among them."""

    # Untyped *args and **options: any builder with its own keyword arguments matches.
    def __call__(self, artifact: Artifact, *args: Any, **options: Any) -> Engine: ...


Activations = Callable[[Any, Array, int], "dict[str, Array]"]
"""``(engine, images, batch_size) -> {canonical layer: its output (before BatchNorm), NCHW}``."""

FastFactory = Callable[..., Any]
"""``(engine, images, golden, options, task) -> runner`` with the block interface of
:class:`readlx.campaign.runners.blocks.BlockRunner`; raises ``FastUnsupported`` for models it cannot run."""


@dataclass(frozen=True)
class Runtime:
    """One runtime: everything readlx knows about running a model in it.

    Parameters
    ----------
    name
        The framework name, the value on a result's framework axis.
    build
        ``build(artifact, *, batch_size, **options) -> Engine``.
    summary
        One line for help texts.
    needs
        Keys of the artifact files the engine reads (none: the PyTorch module alone).
    engine_type
        The engine class ``build`` returns; the fast runner is used only for engines of this type.
    devices
        The devices ``build`` takes as ``device=`` (``"cpu"``, ``"cuda"``); it raises a
        :class:`~readlx.errors.ReadlxError` when the device asked for is not usable here.
    fast
        The exact fast runner, or None: campaigns then use the reference loop.
    activations
        Per-layer outputs for the equivalence report, or None when the runtime has no probe.
    """

    name: str
    build: Builder
    summary: str
    needs: tuple[str, ...] = ()
    engine_type: type | None = None
    devices: tuple[str, ...] = ("cpu",)
    fast: FastFactory | None = None
    activations: Activations | None = None


@dataclass(frozen=True)
class RuntimeFamily:
    """Runtimes whose names match ``pattern``; ``runtime(name)`` parses a name into its :class:`Runtime`.

    ``examples`` name members that the engine contract test runs (float32 ones, comparable with torch).
    """

    pattern: str
    grammar: str
    runtime: Callable[[str], Runtime]
    examples: tuple[str, ...] = ()
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.pattern))

    def matches(self, name: str) -> bool:
        return self._compiled.fullmatch(name) is not None


class RuntimeRegistry:
    """Runtimes by name, and families of runtimes by name pattern; exact names win."""

    def __init__(self) -> None:
        self._runtimes: dict[str, Runtime] = {}
        self._families: list[RuntimeFamily] = []

    def register(self, runtime: Runtime) -> None:
        if runtime.name in self._runtimes:
            raise RegistryError(f"runtime {runtime.name!r} is registered twice")
        self._runtimes[runtime.name] = runtime

    def register_family(self, family: RuntimeFamily) -> None:
        if any(f.grammar == family.grammar for f in self._families):
            raise RegistryError(f"runtime family {family.grammar!r} is registered twice")
        self._families.append(family)

    def unregister(self, name: str) -> None:
        """Remove runtime ``name`` (a runtime added for one test or one session)."""
        self[name]  # raises listing what exists
        self._runtimes.pop(name, None)

    def __getitem__(self, name: str) -> Runtime:
        if name in self._runtimes:
            return self._runtimes[name]
        for family in self._families:
            if family.matches(name):
                return family.runtime(name)
        raise RegistryError(f"unknown runtime {name!r}; available: {', '.join(self.choices())}")

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except ReadlxError:
            return False
        return True

    def names(self) -> list[str]:
        """The runtimes registered by exact name, sorted."""
        return sorted(self._runtimes)

    def families(self) -> list[RuntimeFamily]:
        return list(self._families)

    def choices(self) -> list[str]:
        """Exact names, then each family's grammar: what a ``--frameworks`` value may be."""
        return [*self.names(), *(f.grammar for f in self._families)]

    def examples(self) -> list[str]:
        """Every exact name and each family's example members: one of each kind of engine."""
        return [*self.names(), *(e for f in self._families for e in f.examples)]

    def build(self, name: str, artifact: Artifact, *, batch_size: int = 256, device: str = "cpu",
              **options: Any) -> Engine:
        """The engine of runtime ``name`` on ``artifact``, on ``device`` (one of the runtime's devices)."""
        runtime = self[name]
        if device not in runtime.devices:
            raise ArgumentError(f"runtime {runtime.name!r} runs on {', '.join(runtime.devices)}, not {device!r}",
                                argument="device")
        artifact.require(runtime.needs, runtime.name)
        if device != "cpu":
            options["device"] = device
        return runtime.build(artifact, batch_size=batch_size, **options)


def split_frameworks(text: str | Sequence[str]) -> list[str]:
    """Comma-separated runtime names, each checked against :data:`RUNTIMES`, without duplicates.

    >>> import readlx.engines
    >>> split_frameworks("torch, reference-fft-float32")
    ['torch', 'reference-fft-float32']
    """
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text) if s.strip()]
    for name in names:
        RUNTIMES[name]
    if len(set(names)) != len(names):
        raise ReadlxError(f"each runtime may appear once, got {names}")
    if not names:
        raise ReadlxError(f"no runtime given; available: {', '.join(RUNTIMES.choices())}")
    return names


RUNTIMES = RuntimeRegistry()
"""Every runtime readlx can run; filled by importing :mod:`readlx.engines`."""
