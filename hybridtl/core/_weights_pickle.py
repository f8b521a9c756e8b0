"""Pickling (joblib) and safe saving of estimators that hold a fitted torch module in ``model_``.

The same ``__getstate__`` / ``__setstate__`` serve both formats. Pickled,
the weights travel inside the state as CPU tensors. Saved by
:func:`hybridtl.save`, the weights go to a safetensors file instead and the
state only names them (``_weights_key``), so the rest of the state holds
plain data that ``skops.io`` can load without unpickling anything.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import inspect

__all__ = ["CPUWeightsPickle", "weights_apart"]

# Files saved before ``decode`` existed decoded every pixel: loaded, they go on doing so.
_SAVED_BEFORE = {"decode": "exact"}

# While hybridtl.save / hybridtl.load run: the dict of tensors kept apart from the state
_WEIGHTS = contextvars.ContextVar("hybridtl_weights", default=None)


@contextlib.contextmanager
def weights_apart(tensors):
    """Within the block, states put their weights into (save) or take them from (load) ``tensors``."""
    token = _WEIGHTS.set(tensors)
    try:
        yield tensors
    finally:
        _WEIGHTS.reset(token)


def _put_apart(apart, weights):
    """Add ``weights`` to the tensors kept apart, once: their key is a hash of their names and values.

    skops reads an object's state more than once while it writes a file, and two estimators can
    hold the same network; keyed by content, each network is stored once whatever asks for it.
    """
    import torch

    digest = hashlib.blake2b(digest_size=12)
    for name, tensor in weights.items():
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    key = f"model-{digest.hexdigest()}"
    if not any(k.startswith(key + "/") for k in apart):
        apart.update({f"{key}/{name}": tensor.clone().contiguous() for name, tensor in weights.items()})
    return key


class CPUWeightsPickle:
    """Mixin: the module's weights travel inside the pickle, always on the CPU.

    A model fitted on a GPU therefore loads, and predicts the same, on a
    machine with neither the GPU nor the original weights file. Subclasses
    implement ``_empty_model()``, the same architecture with any weights.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__ itself
        model = state.pop("model_", None)
        apart = _WEIGHTS.get()
        if model is not None:
            weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            if apart is None:
                state["_model_state"] = weights
            else:
                state["_weights_key"] = _put_apart(apart, weights)
        if apart is not None and type(state.get("history_")).__name__ == "DataFrame":
            state["history_"] = state["history_"].to_dict(orient="list")  # plain data for skops
        return state

    def __setstate__(self, state):
        weights = state.pop("_model_state", None)
        key = state.pop("_weights_key", None)
        if key is not None:
            prefix = f"{key}/"
            weights = {k[len(prefix):]: v for k, v in _WEIGHTS.get().items() if k.startswith(prefix)}
        if isinstance(state.get("history_"), dict):
            import pandas as pd

            state["history_"] = pd.DataFrame(state["history_"])
        # parameters added after the file was saved take their defaults (e.g. on_error, runtime), or the value
        # that gives what the file was fitted with where the default changes results (_SAVED_BEFORE)
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if name != "self" and parameter.default is not inspect.Parameter.empty:
                state.setdefault(name, _SAVED_BEFORE.get(name, parameter.default))
        super().__setstate__(state)
        if weights is not None:
            self.model_ = self._empty_model()
            self.model_.load_state_dict(weights)
            self.model_.eval()
