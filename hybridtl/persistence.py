"""Pickling (joblib) of estimators that hold a fitted torch module in ``model_``."""

from __future__ import annotations

import inspect

__all__ = ["CPUWeightsPickle"]


class CPUWeightsPickle:
    """Mixin: the module's weights travel inside the pickle, always on the CPU.

    A model fitted on a GPU therefore loads, and predicts the same, on a
    machine with neither the GPU nor the original weights file. Subclasses
    implement ``_empty_model()``, the same architecture with any weights.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns __dict__ itself
        model = state.pop("model_", None)
        if model is not None:
            state["_model_state"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = state.pop("_model_state", None)
        # parameters added after the file was saved take their defaults (e.g. on_error, runtime)
        for name, parameter in inspect.signature(type(self).__init__).parameters.items():
            if name != "self" and parameter.default is not inspect.Parameter.empty:
                state.setdefault(name, parameter.default)
        super().__setstate__(state)
        if weights is not None:
            self.model_ = self._empty_model()
            self.model_.load_state_dict(weights)
            self.model_.eval()
