"""NNCF's int8 settings on the Lite0 trunk: mean cosine of int8 to fp32 features, and logistic accuracy.

How the settings of ``hybridtl.devices._quantize`` were chosen: each variant quantises the OpenVINO
model with ``nncf.quantize`` on up to 300 of the task's training images (seed 0), and is compared with
the fp32 features on the test images (mean cosine) and by a logistic head's test accuracy.

    python benchmarks/int8_settings.py --tasks tints64 digits64
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import torch
from finetune_bn import at_size, digits32, photos64
from finetune_defaults import photos224, tints64
from sklearn.pipeline import Pipeline

from hybridtl.features import CNNFeatureExtractor
from hybridtl.heads import make_head
from hybridtl.images import as_image_set

TASKS = {"digits64": at_size(digits32, 64), "photos64": photos64, "photos224": photos224, "tints64": tints64}


def variants():
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet as Ranges

    def advanced(**kwargs):
        return {"advanced_parameters": AdvancedQuantizationParameters(**kwargs)}

    slow = {"fast_bias_correction": False}
    return {
        "defaults": {},
        "full bias correction": slow,
        "+ no overflow fix (hybridtl's)": {**slow, **advanced(overflow_fix=OverflowFix.DISABLE)},
        "+ first and last convolutions in fp32": {**slow, "ignored": True},
        "+ MIXED preset": {**slow, "preset": nncf.QuantizationPreset.MIXED},
        "+ HISTOGRAM ranges": {**slow, **advanced(activations_range_estimator_params=Ranges.HISTOGRAM)},
        "+ MEAN_MINMAX ranges": {**slow, **advanced(activations_range_estimator_params=Ranges.MEAN_MINMAX)},
    }


def main(argv=None):
    import nncf
    import openvino as ov

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["tints64", "digits64"])
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    for task in args.tasks:
        X_train, y_train, X_test, y_test, size = TASKS[task](0)
        ext = CNNFeatureExtractor(image_size=size, device="cpu", cache=None).fit()

        def inputs(X):
            return torch.cat(list(as_image_set(X).batches(ext.preprocess_, 64, torch.device("cpu")))).numpy()

        def accuracy(train, test):
            return Pipeline(make_head("logreg", random_state=0)).fit(train, y_train).score(test, y_test)

        train_inputs, test_inputs = inputs(X_train), inputs(X_test)
        fp32_train, fp32_test = ext.transform(X_train), ext.transform(X_test)
        calibration = train_inputs[np.random.default_rng(0).permutation(len(train_inputs))[:300]]
        row = {"task": task, "fp32 accuracy": round(accuracy(fp32_train, fp32_test), 3)}
        for name, options in variants().items():
            options = dict(options)
            converted = ov.convert_model(ext.model_, example_input=torch.zeros(1, 3, size, size),
                                         input=[(-1, 3, size, size)])
            if options.pop("ignored", False):
                convs = [op.get_friendly_name() for op in converted.get_ordered_ops()
                         if op.get_type_name() == "Convolution"]
                options["ignored_scope"] = nncf.IgnoredScope(names=[convs[0], convs[-1]])
            start = time.perf_counter()
            quantised = nncf.quantize(converted, nncf.Dataset([x[None] for x in calibration]),
                                      subset_size=len(calibration), **options)
            seconds = time.perf_counter() - start
            compiled = ov.Core().compile_model(quantised, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

            def features(batch, compiled=compiled):
                return np.concatenate([compiled(batch[i : i + 64])[0] for i in range(0, len(batch), 64)])

            train, test = features(train_inputs), features(test_inputs)
            norms = np.linalg.norm(test, axis=1) * np.linalg.norm(fp32_test, axis=1)
            cosine = np.mean((test * fp32_test).sum(1) / norms)
            row[name] = {"accuracy": round(accuracy(train, test), 3), "cosine": round(float(cosine), 3),
                         "seconds": round(seconds, 1)}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
