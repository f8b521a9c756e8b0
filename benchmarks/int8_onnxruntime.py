"""ONNX Runtime's static int8 quantisation of the Lite0 trunk, the fallback that was left out: mean cosine
of its features to fp32's, for each variant tried.

    python benchmarks/int8_onnxruntime.py
"""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from hybridtl.devices import onnx_export
from hybridtl.features import CNNFeatureExtractor
from hybridtl.images import as_image_set, load_digits_images


class Reader(CalibrationDataReader):
    def __init__(self, inputs):
        self.batches = iter([{"images": x[None]} for x in inputs])

    def get_next(self):
        return next(self.batches, None)


def main():
    warnings.simplefilter("ignore")
    X, _ = load_digits_images()
    ext = CNNFeatureExtractor(image_size=64, device="cpu", cache=None, runtime="torch").fit()
    inputs = torch.cat(list(as_image_set(X[:100]).batches(ext.preprocess_, 64, torch.device("cpu")))).numpy()
    options = ort.SessionOptions()
    options.log_severity_level = 3

    def features(model):
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"]).run(None, {"images": inputs})[0]

    with tempfile.TemporaryDirectory() as tmp:
        source, prepared = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "prepared.onnx")
        with open(source, "wb") as f:
            f.write(onnx_export(ext.model_, 64))
        quant_pre_process(source, prepared)
        fp32 = features(source)
        variants = {
            "QDQ, per channel": (source, {"per_channel": True}),
            "QDQ, per channel, after quant_pre_process": (prepared, {"per_channel": True}),
            "QDQ, per tensor, after quant_pre_process": (prepared, {"per_channel": False}),
            "QOperator, per channel": (source, {"per_channel": True, "quant_format": QuantFormat.QOperator}),
            "QDQ, per channel, reduced range": (prepared, {"per_channel": True, "reduce_range": True}),
            "QDQ, int8 activations": (prepared, {"per_channel": True, "activation_type": QuantType.QInt8}),
            "QDQ, convolutions only": (prepared, {"per_channel": True, "op_types_to_quantize": ["Conv"]}),
        }
        for name, (model, kwargs) in variants.items():
            target = os.path.join(tmp, "int8.onnx")
            quantize_static(model, target, Reader(inputs), **{"quant_format": QuantFormat.QDQ, **kwargs})
            int8 = features(target)
            norms = np.linalg.norm(int8, axis=1) * np.linalg.norm(fp32, axis=1)
            print(f"{name}: mean cosine to fp32 {np.mean((int8 * fp32).sum(1) / norms):.3f}", flush=True)


if __name__ == "__main__":
    main()
