"""Inference runtimes for frozen models on the CPU: OpenVINO or ONNX Runtime, with PyTorch as the fallback.

A frozen feature extractor only ever runs forward, and on a CPU an inference
runtime runs the same graph 2-2.5x faster than eager PyTorch
(``benchmarks/throughput.py``; the performance page of the docs). hybridtl does
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

import collections
import contextlib
import importlib.metadata
import importlib.util
import io
import sys
import threading
import warnings
import weakref

import numpy as np
import torch

from ..core import RUNTIMES, Options, check_param
from ._quantize import calibrate, quantized_openvino

__all__ = ["RuntimeFallbackWarning", "calibrate_int8", "compiled_runner", "installed_runtimes", "resolve_runtime",
           "runtime_summary"]
# fastest first, as measured by benchmarks/throughput.py on a 2-core x86-64 CPU
PREFERENCE = ("openvino", "onnxruntime")
_MODULES = {"openvino": "openvino", "onnxruntime": "onnxruntime"}


class RuntimeFallbackWarning(UserWarning):
    """The asked-for runtime could not run this model; PyTorch runs it instead.

    Examples
    --------
    >>> import warnings
    >>> from hybridtl.features import CNNFeatureExtractor
    >>> issubclass(RuntimeFallbackWarning, UserWarning)
    True
    """


def installed_runtimes():
    """The inference runtimes importable here, in order of preference.

    Returns
    -------
    list of str
        Names from ``("openvino", "onnxruntime")``, fastest first.

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

    Parameters
    ----------
    runtime : {"auto", "torch", "openvino", "onnxruntime"}
    device : torch.device

    Returns
    -------
    str

    Examples
    --------
    >>> import torch
    >>> resolve_runtime("torch", torch.device("cpu")), resolve_runtime("auto", torch.device("cuda"))
    ('torch', 'torch')
    """
    check_param("runtime", runtime, [Options(RUNTIMES)])
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
    """One line saying which runtime ``runtime="auto"`` uses on this machine's CPU.

    Returns
    -------
    str

    Examples
    --------
    >>> runtime_summary().startswith("CPU inference runtime (runtime='auto'): ")
    True
    """
    available = installed_runtimes()
    chosen = available[0] if available else "torch"
    version = importlib.metadata.version(chosen if chosen != "torch" else "torch")
    others = ", ".join(available[1:]) or "none"
    return f"CPU inference runtime (runtime='auto'): {chosen} {version}; other runtimes installed: {others}"


@contextlib.contextmanager
def _without_converter_telemetry():
    """Run ``openvino.convert_model`` with OpenVINO's own no-op telemetry stub.

    Its telemetry forks a process to post usage data. hybridtl converts inside users' processes:
    dask workers and clients full of threads, where a fork can hang for good (it did in this
    project's tests), on machines that are often offline anyway. The stub is what OpenVINO itself
    uses when ``openvino_telemetry`` is not installed; nothing else changes. Should OpenVINO's
    modules move, conversion simply runs as OpenVINO ships it.
    """
    try:
        _import_openvino()
        from openvino.tools.ovc import convert_impl, telemetry_stub, telemetry_utils
    except ImportError:
        yield
        return
    patches = [(convert_impl, "tm", telemetry_stub), (telemetry_utils, "tm", telemetry_stub),
               (convert_impl, "init_ovc_telemetry", lambda *args, **kwargs: telemetry_stub.Telemetry())]
    patches = [(module, name, new) for module, name, new in patches if hasattr(module, name)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    with _CONVERT_LOCK:
        try:
            for module, name, new in patches:
                setattr(module, name, new)
            yield
        finally:
            for module, name, old in saved:
                setattr(module, name, old)


_CONVERT_LOCK = threading.Lock()


def _import_openvino():
    """``import openvino``, with its converter's telemetry stub when nothing has imported it yet.

    ``import openvino`` imports the converter, which sends an event on import. While
    ``sys.modules["openvino_telemetry"]`` is None, ``import openvino_telemetry`` fails, so the
    converter takes the stub it ships for when that package is missing.
    """
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    saved = sys.modules.get("openvino_telemetry", _MISSING)
    sys.modules["openvino_telemetry"] = None
    try:
        import openvino

        return openvino
    finally:
        if saved is _MISSING:
            del sys.modules["openvino_telemetry"]
        else:
            sys.modules["openvino_telemetry"] = saved


_MISSING = object()


def _openvino_convert(model, size):
    ov = _import_openvino()
    example = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings(), _without_converter_telemetry():
        warnings.simplefilter("ignore")  # tracing warnings about the tap hooks' control flow
        return ov.convert_model(model, example_input=example, input=[(-1, 3, size, size)])


def _openvino_runner(model, size, precision="fp32", calibration=None):
    if precision == "int8":
        converted = _take_calibrated(calibration) or quantized_openvino(_openvino_convert(model, size), calibration)
    else:
        converted = _openvino_convert(model, size)
    # f32 unless bf16 is asked for: on CPUs with bf16 units OpenVINO would otherwise compute in bf16 (an int8
    # model's unquantised layers too); threads: as many as PyTorch uses here, so that OMP_NUM_THREADS (set
    # per dask worker) bounds both
    hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[precision]
    compiled = _import_openvino().Core().compile_model(
        converted, "CPU", {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": torch.get_num_threads()})

    def run(batch):
        request = compiled.create_infer_request()  # one per call: requests are not shared between threads
        request.infer({0: batch})
        return np.array(request.get_output_tensor(0).data, dtype=np.float32, copy=True)

    return run


def onnx_export(model, size, input_name="images", output_name="features", opset=17):
    """``model`` on float32 (N, 3, size, size), N free, as the bytes of an ONNX graph.

    torch's TorchScript exporter (the dynamo one needs ``onnxscript``); its
    deprecation and tracing notices are silenced. The ONNX Runtime runner and
    :func:`hybridtl.export.export_onnx` both export networks through it.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, size, size), buffer, dynamo=False, input_names=[input_name],
                          output_names=[output_name], dynamic_axes={input_name: {0: "n"}, output_name: {0: "n"}},
                          opset_version=opset)
    return buffer.getvalue()


def _onnxruntime_runner(model, size, precision="fp32", calibration=None):
    if precision != "fp32":
        raise ValueError(f"ONNX Runtime runs these models in fp32 only, not {precision}")
    import onnxruntime

    graph = onnx_export(model, size)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # bounded like PyTorch's (OMP_NUM_THREADS)
    options.log_severity_level = 3  # errors only: its warnings about unused initializers are the exporter's
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def run(batch):
        return session.run(None, {"images": batch})[0].astype(np.float32, copy=False)

    return run


# digest -> the quantised model a calibration just made, taken by the first runner built for it (fit's
# calibration is not redone from the blank image); a few at most
_CALIBRATED = collections.OrderedDict()
_CALIBRATED_LOCK = threading.Lock()


def _take_calibrated(calibration):
    with _CALIBRATED_LOCK:
        return _CALIBRATED.pop(calibration["digest"], None)


def calibrate_int8(model, size, inputs):
    """Quantise ``model`` to int8 in OpenVINO (NNCF), calibrated on ``inputs``; returns the calibration (plain data).

    Pass it to :func:`compiled_runner` with ``precision="int8"``: the next runner built for it in
    this process reuses the quantised model; one built elsewhere (a loaded extractor) rebuilds it
    from the calibration alone (see ``hybridtl.devices._quantize``).

    Parameters
    ----------
    model : torch.nn.Module
        Frozen, in eval mode; never changed.
    size : int
    inputs : numpy.ndarray of float32, shape (n, 3, size, size)
        Preprocessed images (a few hundred are enough).

    Returns
    -------
    dict
        Strings, numbers and arrays only: safe to save.

    Examples
    --------
    >>> import numpy as np, torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
    ...                             torch.nn.Flatten()).eval()
    >>> inputs = np.random.default_rng(0).random((4, 3, 16, 16), dtype=np.float32)
    >>> calibration = calibrate_int8(model, 16, inputs)
    >>> calibration["runtime"], calibration["images"]
    ('openvino', 4)
    >>> run = compiled_runner(model, "openvino", 16, precision="int8", calibration=calibration)
    >>> run(inputs).shape
    (4, 8)
    """
    with torch.inference_mode(False), torch.no_grad():
        calibration, quantised = calibrate(lambda: _openvino_convert(model, size), inputs)
    with _CALIBRATED_LOCK:
        _CALIBRATED[calibration["digest"]] = quantised
        while len(_CALIBRATED) > _IDENTITY_SLOTS:
            _CALIBRATED.popitem(last=False)
    return calibration


_BUILDERS = {"openvino": _openvino_runner, "onnxruntime": _onnxruntime_runner}
# model -> {(runtime, size, precision, calibration digest): runner or None}; dropped with the model, never pickled
_RUNNERS = weakref.WeakKeyDictionary()
# (identity, *that key) -> runner, for the last few models: a copy of the same frozen model that
# arrives anew (a dask worker unpickles the extractor at every call) reuses its compiled runner
_BY_IDENTITY = collections.OrderedDict()
_IDENTITY_SLOTS = 4
_LOCK = threading.Lock()


def compiled_runner(model, runtime, size, identity=None, precision="fp32", calibration=None):
    """A function from a float32 array (n, 3, size, size) to the model's output, or None to run PyTorch.

    Built once per (model, runtime, size) in this process; a failure warns
    once, naming the cause, and later calls run PyTorch without trying again.
    ``identity``, when given, must name the model's graph and weights exactly
    (e.g. backbone, tap layer, pooling and a hash of the weights): another
    model object with the same identity then gets the same compiled runner.

    Parameters
    ----------
    model : torch.nn.Module
        Frozen, in eval mode; never changed.
    runtime : {"torch", "openvino", "onnxruntime"}
        As :func:`resolve_runtime` gives it.
    size : int
        The input side the runner is compiled for.
    identity : hashable, optional
    precision : {"fp32", "bf16", "int8"}, default="fp32"
        What the runtime computes in: bf16 (on CPUs with bf16 units) and int8 (as ``calibration``
        says) in OpenVINO only; ONNX Runtime takes fp32 only.
    calibration : dict, optional
        From :func:`calibrate_int8`, for the same model, runtime and size; needed for int8 only.

    Returns
    -------
    callable or None

    Examples
    --------
    >>> import numpy as np, torch
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    >>> compiled_runner(model, "torch", 16) is None
    True
    >>> run = compiled_runner(model, "onnxruntime", 16)
    >>> batch = np.zeros((2, 3, 16, 16), np.float32)
    >>> bool(np.allclose(run(batch), model(torch.from_numpy(batch)).detach().numpy(), atol=1e-5))
    True
    """
    if runtime == "torch":
        return None
    if (precision == "int8") != (calibration is not None):
        raise ValueError("precision='int8' needs the calibration calibrate_int8 made, and only int8 takes one")
    with _LOCK:
        runners = _RUNNERS.setdefault(model, {})
        key = (runtime, size, precision, calibration["digest"] if calibration else None)
        if key not in runners:
            shared = None if identity is None else (identity, *key)
            if shared is not None and shared in _BY_IDENTITY:
                _BY_IDENTITY.move_to_end(shared)
                runners[key] = _BY_IDENTITY[shared]
            else:
                runners[key] = _build(model, runtime, size, precision, calibration)
                if shared is not None:
                    _BY_IDENTITY[shared] = runners[key]
                    while len(_BY_IDENTITY) > _IDENTITY_SLOTS:
                        _BY_IDENTITY.popitem(last=False)
        return runners[key]


def _build(model, runtime, size, precision, calibration):
    try:
        with torch.inference_mode(False), torch.no_grad():
            return _BUILDERS[runtime](model, size, precision, calibration)
    except Exception as exc:  # noqa: BLE001 - any export or compile failure means: run PyTorch
        cause = (str(exc).splitlines() or [""])[0][:300]
        warnings.warn(f"could not run this model in {runtime} ({type(exc).__name__}: {cause}); "
                      "running PyTorch instead", RuntimeFallbackWarning, stacklevel=4)
        return None
