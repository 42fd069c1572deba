"""Reading Keras models from files without running code the files hold.

A Keras ``Lambda`` layer stores its function as Python bytecode, which Keras runs while loading the
model; the legacy SavedModel and HDF5 loaders do so whatever ``safe_mode`` says. Each format's model
description (``keras_metadata.pb`` of a SavedModel, ``model_config`` of an HDF5 file, ``config.json``
of a ``.keras`` archive) is therefore read as data first, and a model holding such a layer is refused
before Keras sees it. ``TFOpLambda`` layers (a TensorFlow operation called on Keras tensors, named by
the operation) hold no code and are allowed.
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from readlx.errors import InputError

CODE_LAYERS = ("Lambda",)
"""Keras layer classes whose saved form holds Python code."""
FORMATS = "a SavedModel directory, a .keras file or an .h5 file"


def load_keras_model(path: str | Path) -> Any:
    """Load a Keras model (uncompiled: inference only) from ``path``: a SavedModel directory, a
    ``.keras`` archive or an ``.h5`` file.

    Raises
    ------
    InputError
        For a missing path, a file of another kind, a file that is not a readable Keras model, or a
        model whose layers hold Python code (:data:`CODE_LAYERS`); nothing in the file has run then.
    """
    from readlx._tensorflow import import_tensorflow

    tf = import_tensorflow()

    path = Path(path)
    _refuse_code(path, _config_of(path))
    try:
        if path.suffix == ".keras":
            return tf.keras.models.load_model(str(path), compile=False, safe_mode=True)
        return tf.keras.models.load_model(str(path), compile=False)
    except (OSError, ValueError, TypeError, KeyError, ImportError) as e:
        raise InputError(f"not a readable Keras model: {type(e).__name__}: {str(e)[:300]}", path=path) from e


def _config_of(path: Path) -> list[Any]:
    """The model description(s) of a Keras file, as data."""
    if path.is_dir():
        return _savedmodel_metadata(path)
    if not path.is_file():
        raise InputError(f"no such Keras model ({FORMATS})", path=path)
    if path.suffix == ".h5":
        return [_h5_config(path)]
    if path.suffix == ".keras":
        return [_archive_config(path)]
    raise InputError(f"not a Keras model file: expected {FORMATS}", path=path)


def _savedmodel_metadata(path: Path) -> list[Any]:
    from google.protobuf.message import DecodeError
    from keras.protobuf import saved_metadata_pb2

    meta = path / "keras_metadata.pb"
    if not meta.is_file():
        raise InputError("not a Keras SavedModel (no keras_metadata.pb; a SavedModel written by Keras has one)",
                         path=path)
    saved = saved_metadata_pb2.SavedMetadata()
    try:
        saved.ParseFromString(meta.read_bytes())
        return [json.loads(node.metadata) for node in saved.nodes]
    except (DecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"damaged Keras metadata: {e}", path=meta) from e


def _h5_config(path: Path) -> Any:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
    except OSError as e:
        raise InputError(f"not a readable HDF5 file: {e}", path=path) from e
    if raw is None:
        raise InputError("an HDF5 file without a model (weights only?); readlx needs the whole model", path=path)
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError) as e:
        raise InputError(f"damaged model_config: {e}", path=path) from e


def _archive_config(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as e:
        raise InputError(f"not a readable .keras archive: {e}", path=path) from e


def _refuse_code(path: Path, configs: list[Any]) -> None:
    found = sorted({name for config in configs for name in _class_names(config) if name in CODE_LAYERS})
    if found:
        raise InputError(f"the model holds {', '.join(found)} layers, whose Python code Keras would run while "
                         "loading; readlx loads no code from files (rebuild the layer from Keras layers)", path=path)


def _class_names(config: Any) -> Iterator[str]:
    """Every ``class_name`` in a nested model description."""
    if isinstance(config, dict):
        name = config.get("class_name")
        if isinstance(name, str):
            yield name
        for value in config.values():
            yield from _class_names(value)
    elif isinstance(config, list):
        for value in config:
            yield from _class_names(value)
