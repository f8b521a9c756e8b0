"""Inference runtimes for frozen models on the CPU: OpenVINO or ONNX Runtime, with PyTorch as the fallback.

A frozen feature extractor only ever runs forward, and on a CPU an inference
runtime runs the same graph 2-2.5x faster than eager PyTorch
(``benchmarks/throughput.py``; the README's performance table). hybridtl does
not write a runtime of its own: it hands the traced model to

* OpenVINO (``openvino.convert_model`` of the PyTorch module, compiled for
  the CPU in float32), the fastest measured here, or
* ONNX Runtime (``torch.onnx.export`` to an in-memory ONNX graph);

``runtime="auto"`` takes the first of these that is installed, in that
measured order, on the CPU, and PyTorch on CUDA (AMP + channels_last).
A compiled model is built once per process for each (model, runtime, input
size) and kept beside the model; it is never pickled, so a saved extractor
runs on a machine without the runtime (PyTorch then). Any failure to export
or compile falls back to PyTorch with one warning naming the cause.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import threading
import warnings
import weakref

import numpy as np
import torch

__all__ = ["RUNTIMES", "compiled_runner", "installed_runtimes", "resolve_runtime", "runtime_summary"]

RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
# fastest first, as measured by benchmarks/throughput.py on a 2-core x86-64 CPU
PREFERENCE = ("openvino", "onnxruntime")
_MODULES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}


class RuntimeFallbackWarning(UserWarning):
    """The asked-for runtime could not run this model; PyTorch runs it instead."""


def installed_runtimes():
    """The inference runtimes importable here, in order of preference.

    Examples
    --------
    >>> set(installed_runtimes()) <= set(PREFERENCE)
    True
    """
    return [name for name in PREFERENCE if importlib.util.find_spec(_MODULES[name]) is not None]


def resolve_runtime(runtime, device):
    """The runtime that will run on ``device``: "torch", "openvino" or "onnxruntime".

    ``"auto"`` picks the fastest installed runtime on the CPU and PyTorch
    elsewhere; a named runtime that is not installed falls back to PyTorch
    with a warning (a model saved on another machine must still run).
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if device.type != "cpu" or runtime == "torch":
        return "torch"
    available = installed_runtimes()
    if runtime == "auto":
        return available[0] if available else "torch"
    if runtime not in available:
        warnings.warn(f"runtime={runtime!r} is not installed here (pip install {runtime}); running PyTorch",
                      RuntimeFallbackWarning, stacklevel=3)
        return "torch"
    return runtime


def runtime_summary():
    """One line saying which runtime ``runtime="auto"`` uses on this machine's CPU."""
    available = installed_runtimes()
    chosen = available[0] if available else "torch"
    version = importlib.metadata.version(chosen if chosen != "torch" else "torch")
    others = ", ".join(available[1:]) or "none"
    return f"CPU inference runtime (runtime='auto'): {chosen} {version}; other runtimes installed: {others}"


def _openvino_runner(model, size):
    import openvino as ov

    example = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing warnings about the tap hooks' control flow
        converted = ov.convert_model(model, example_input=example, input=[(-1, 3, size, size)])
    # f32: on CPUs with bf16 units OpenVINO would otherwise compute in bf16 (features off by ~0.1)
    compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def run(batch):
        request = compiled.create_infer_request()  # one per call: requests are not shared between threads
        request.infer({0: batch})
        return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    return run


def _onnxruntime_runner(model, size):
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, size, size), buffer, dynamo=False, input_names=["images"],
                          output_names=["features"], dynamic_axes={"images": {0: "n"}}, opset_version=17)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])

    def run(batch):
        return session.run(None, {"images": batch})[0].astype(np.float32, copy=False)

    return run


_BUILDERS = {"openvino": _openvino_runner, "onnxruntime": _onnxruntime_runner}
# model -> {(runtime, size): runner or None}; dropped with the model, never pickled
_RUNNERS = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def compiled_runner(model, runtime, size):
    """A function from a float32 array (n, 3, size, size) to features, or None to run PyTorch.

    Built once per (model, runtime, size) in this process; a failure warns
    once, naming the cause, and later calls run PyTorch without trying again.
    """
    if runtime == "torch":
        return None
    with _LOCK:
        runners = _RUNNERS.setdefault(model, {})
        if (runtime, size) not in runners:
            try:
                with torch.inference_mode(False), torch.no_grad():
                    runners[(runtime, size)] = _BUILDERS[runtime](model, size)
            except Exception as exc:  # noqa: BLE001 - any export or compile failure means: run PyTorch
                cause = (str(exc).splitlines() or [""])[0][:300]
                warnings.warn(f"could not run this model in {runtime} ({type(exc).__name__}: {cause}); "
                              "running PyTorch instead", RuntimeFallbackWarning, stacklevel=3)
                runners[(runtime, size)] = None
        return runners[(runtime, size)]
