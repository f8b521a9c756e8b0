"""int8 inference: post-training quantisation of a frozen model, calibrated on the user's own images.

hybridtl does not quantise by hand: NNCF quantises the OpenVINO model (``nncf.quantize``). Its settings
are those that measured closest to fp32 features here (``benchmarks/precision.py``): the full bias
correction rather than the fast one, and, on CPUs with VNNI or AMX int8 units, no 7-bit "overflow fix"
of the weights (those units do not overflow; on other CPUs NNCF's default stays). ONNX Runtime's
static quantisation (``quantize_static``, 1.32) was tried as the fallback where OpenVINO is absent and
left out: its features kept a mean cosine of 0.05-0.07 to fp32 with QDQ or QOperator, per channel,
reduced range or not, after ``quant_pre_process`` or not (0.84 with convolutions only;
``benchmarks/int8_onnxruntime.py``).

What a calibration learns is kept as data, not as a model, so that a saved extractor holds no
runtime's model and gives the same features wherever it is loaded: the constants that calibration
set (activation ranges, corrected biases). They are found by quantising once more on one blank image
and keeping what differs; where the extractor is loaded, the model is quantised on that blank image
again (the same graph: the quantisers' placement does not depend on the data) and the kept constants
are put back. Written here because NNCF cannot apply saved activation ranges to a model (its
``statistics_path`` serves weight compression only).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import warnings

import numpy as np

__all__ = ["CALIBRATION_IMAGES", "calibrate", "quantized_openvino"]

# the images a calibration uses at most: NNCF's default subset size, and the bound on the time
CALIBRATION_IMAGES = 300
_FORMAT = 1


def _int8_units():
    """Whether this CPU has int8 dot-product units (VNNI, AMX), which do not overflow on full 8-bit weights."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _nncf_options(settings):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    fix = OverflowFix.DISABLE if settings["overflow_fix"] == "disable" else OverflowFix.FIRST_LAYER
    return {"fast_bias_correction": False, "preset": nncf.QuantizationPreset.PERFORMANCE,
            "advanced_parameters": AdvancedQuantizationParameters(overflow_fix=fix)}


def _nncf_quantize(converted, inputs, settings):
    import nncf

    with warnings.catch_warnings(), _quiet_nncf():
        warnings.simplefilter("ignore")
        return nncf.quantize(converted, nncf.Dataset([x[None] for x in inputs]), subset_size=len(inputs),
                             **_nncf_options(settings))


@contextlib.contextmanager
def _quiet_nncf():
    """NNCF logs each step at INFO and draws its own progress bars on stdout, where a library's user (or a
    doctest) does not expect them; they are kept from it, its warnings and errors are not."""
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def _blank(size):
    return np.zeros((1, 3, size, size), np.float32)


def _openvino_constants(model):
    """The model's constants by their place in the graph (OpenVINO renames them at each conversion)."""
    return [op for op in model.get_ordered_ops() if op.get_type_name() == "Constant"]


def _differing(real, template):
    """{key: value} of the constants where ``real`` differs from ``template`` (two dicts key -> array)."""
    if set(real) != set(template):
        raise ValueError("the calibrated and the blank quantised model differ in their graphs")
    return {key: np.array(value) for key, value in real.items()
            if value.shape != template[key].shape or not np.array_equal(value, template[key])}


def _digest(constants, settings):
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(repr(sorted(settings.items())).encode())
    for key in sorted(constants):
        hasher.update(key.encode())
        hasher.update(np.ascontiguousarray(constants[key]).tobytes())
    return hasher.hexdigest()


def calibrate(converted, inputs):
    """Quantise an OpenVINO model to int8 on ``inputs``; returns (calibration, quantised model).

    Parameters
    ----------
    converted : callable
        ``converted()`` gives the fp32 ``openvino.Model`` afresh (quantising changes it).
    inputs : numpy.ndarray of float32, shape (n, 3, size, size)
        Preprocessed calibration images.

    Returns
    -------
    calibration : dict
        Plain data (strings, numbers, arrays): ``runtime``, ``settings``, ``constants`` (place -> array),
        ``count`` (how many constants the quantised graph has), ``digest``, ``images``, ``format``.
    model : openvino.Model
    """
    settings = {"overflow_fix": "disable" if _int8_units() else "first_layer"}
    real = _nncf_quantize(converted(), inputs, settings)
    template = _nncf_quantize(converted(), _blank(inputs.shape[-1]), settings)
    values = {str(i): op.get_data() for i, op in enumerate(_openvino_constants(real))}
    blank = {str(i): op.get_data() for i, op in enumerate(_openvino_constants(template))}
    constants = _differing(values, blank)
    calibration = {"format": _FORMAT, "runtime": "openvino", "settings": settings, "constants": constants,
                   "count": len(values), "images": int(len(inputs)), "digest": _digest(constants, settings)}
    return calibration, real


def _check(calibration, runtime, count):
    if calibration.get("format") != _FORMAT or calibration.get("runtime") != runtime:
        raise ValueError(f"this int8 calibration was made for {calibration.get('runtime')!r}, not {runtime!r}")
    if calibration["count"] != count:
        raise ValueError(f"this int8 calibration fits a graph of {calibration['count']} constants, not {count}: "
                         "the quantiser's version differs from the one that calibrated it")


def quantized_openvino(converted, calibration):
    """``converted`` (an ``openvino.Model`` in fp32) quantised as ``calibration`` says, without images."""
    from openvino import opset13

    size = converted.input(0).get_partial_shape()[2].get_length()
    model = _nncf_quantize(converted, _blank(size), calibration["settings"])
    constants = _openvino_constants(model)
    _check(calibration, "openvino", len(constants))
    for key, value in calibration["constants"].items():
        old = constants[int(key)]
        if old.get_data().shape != np.shape(value):
            raise ValueError(f"this int8 calibration's constant {key} has shape {np.shape(value)}, the graph's "
                             f"{old.get_data().shape}: the quantiser's version differs from the one that calibrated it")
        new = opset13.constant(np.asarray(value, dtype=old.get_data().dtype))
        for target in list(old.output(0).get_target_inputs()):
            target.replace_source_output(new.output(0))
    return model
