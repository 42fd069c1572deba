"""Converted models kept by content, so a campaign on Keras or ONNX Runtime needs no separate step.

A model is converted once per content: the key (:meth:`readlx.converters.sources.Source.key`) is the
sha256 of the original model's graph and weights (a module's ``repr`` and state, an ONNX file's
graph, a Keras model's configuration and weights), the input shape and readlx's version. Bundles live
under ``$READLX_CACHE`` (default ``~/.cache/readlx``) in ``bundles/<key>``, a directory readlx owns: it
writes only there, and never deletes a bundle it did not write there.

Processes share the cache: a conversion holds an exclusive lock on ``bundles/<key>.lock`` while it
looks for and writes the bundle, so two processes asking for the same model at the same moment
convert it once, the second one waiting for the first and reading its bundle.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import torch.nn as nn

from readlx.converters.bundle import META, Bundle, load_bundle
from readlx.converters.sources import Source, module_source, resolve, zoo_source
from readlx.errors import InputError
from readlx.graph import LayerTable
from readlx.outputs import locked

ENV_VAR = "READLX_CACHE"


def cache_root() -> Path:
    """Where converted models are kept: ``$READLX_CACHE``, else ``~/.cache/readlx``."""
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else Path.home() / ".cache" / "readlx"


def cached(source: Source) -> Bundle:
    """The bundle of ``source`` from the cache, converted (and its equivalence checked) on first use."""
    from readlx.converters.conversion import convert_source

    bundles = cache_root() / "bundles"
    path = bundles / source.key()
    bundles.mkdir(parents=True, exist_ok=True)
    with locked(bundles / f"{path.name}.lock", "the conversion cache", wait=True):
        if (path / META).is_file():
            try:
                return load_bundle(path)
            except InputError:  # older, changed or damaged: set aside (never deleted), converted again
                path.rename(path.with_name(f".{path.name}.stale-{secrets.token_hex(4)}"))
        return convert_source(source, path)


def cached_zoo_bundle(name: str, weights: str | Path | None = None) -> Bundle:
    """The bundle of zoo model ``name`` with ``weights`` (default: its own), so it keeps the zoo's name
    and card."""
    return cached(zoo_source(name, weights))


def cached_bundle(model: nn.Module, table: LayerTable, input_shape: tuple[int, ...]) -> Bundle:
    """The bundle of a module (not changed; the bundle's PyTorch runtime needs it again as the
    architecture, :meth:`~readlx.converters.bundle.Bundle.artifact`)."""
    return cached(module_source(model, table, input_shape))


def cached_model_bundle(model: Any, name: str, input_shape: tuple[int, ...] | None = None) -> Bundle:
    """The bundle of an ``onnx.ModelProto`` or a Keras model."""
    return cached(resolve(model, None, None, input_shape, name))
