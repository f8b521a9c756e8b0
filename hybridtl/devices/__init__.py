"""Where models run: the device, mixed precision, backing off when the GPU runs out of memory, and the CPU
inference runtimes (OpenVINO, ONNX Runtime) that run frozen models."""

from ._memory import BatchBackOff, halving_batches, retry_halving
from ._placement import autocast, resolve_device, use_amp
from ._runtimes import RuntimeFallbackWarning, compiled_runner, installed_runtimes, resolve_runtime, runtime_summary

RuntimeFallbackWarning.__module__ = __name__  # its public home, as tracebacks name it

__all__ = ["BatchBackOff", "RuntimeFallbackWarning", "autocast", "compiled_runner", "halving_batches",
           "installed_runtimes", "resolve_device", "resolve_runtime", "retry_halving", "runtime_summary", "use_amp"]
