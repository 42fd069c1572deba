"""Checkpoint readers: tensors only, never arbitrary pickled objects."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from readlx.errors import CheckpointError


def _load_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> nn.Module:
    own = model.state_dict()
    # Checkpoints from older PyTorch lack the BatchNorm step counter, which eval mode never reads.
    missing = sorted(k for k in set(own) - set(state) if not k.endswith("num_batches_tracked"))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"state_dict keys do not match the model: missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}",
            path=path,
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(
                f"shape {tuple(value.shape)} != model's {tuple(own[key].shape)}", path=path, field=key
            )
        if value.dtype != own[key].dtype and not (value.is_floating_point() and own[key].is_floating_point()):
            raise CheckpointError(f"dtype {value.dtype} where the model holds {own[key].dtype}", path=path, field=key)
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{int((~torch.isfinite(value)).sum())} NaN or infinite values", path=path, field=key)
    model.load_state_dict(state, strict=False)
    return model.eval()


def read_published_th(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a published ``.th`` checkpoint (``{'state_dict': {'module.<name>': tensor}}``)."""
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise CheckpointError("checkpoint not found", path=path) from e
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"not a tensor-only PyTorch checkpoint: {e}", path=path) from e
    state = blob.get("state_dict", blob) if isinstance(blob, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"expected a dict with 'state_dict', got {type(blob).__name__}", path=path)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    return _load_state(model, state, path)


def read_npz(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a state_dict saved as ``.npz`` (name -> array)."""
    path = Path(path)
    try:
        with path.open("rb") as f, np.load(f, allow_pickle=False) as z:  # our handle: closed on any error
            arrays = {k: np.array(z[k]) for k in z.files}
    except FileNotFoundError as e:
        raise CheckpointError("checkpoint not found", path=path) from e
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, AttributeError, TypeError) as e:  # not an npz
        raise CheckpointError(f"not an .npz state_dict: {e}", path=path) from e
    for key, array in arrays.items():
        if array.dtype.kind not in "fiub":
            raise CheckpointError(f"array of {array.dtype} is not a tensor", path=path, field=key)
    state = {k: torch.from_numpy(v) for k, v in arrays.items()}
    return _load_state(model, state, path)
