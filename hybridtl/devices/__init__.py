"""Where models run: the device, mixed precision, backing off when the GPU runs out of memory, and the CPU
inference runtimes (OpenVINO, ONNX Runtime) that run frozen models, in fp32, bf16 or int8."""

from ._memory import BatchBackOff, halving_batches, retry_halving
from ._placement import autocast, resolve_device, use_amp
from ._quantize import CALIBRATION_IMAGES
from ._runtimes import (
    RuntimeFallbackWarning,
    calibrate_int8,
    compiled_runner,
    installed_runtimes,
    resolve_runtime,
    runtime_summary,
)

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._runtimes import onnx_export as onnx_export

RuntimeFallbackWarning.__module__ = __name__  # its public home, as tracebacks name it

__all__ = [
    "CALIBRATION_IMAGES", "BatchBackOff", "RuntimeFallbackWarning", "autocast", "calibrate_int8", "compiled_runner",
    "halving_batches", "installed_runtimes", "resolve_device", "resolve_runtime", "retry_halving", "runtime_summary",
    "use_amp",
]
