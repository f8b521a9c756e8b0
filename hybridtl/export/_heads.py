"""scikit-learn heads (and XGBoost) as ONNX graphs, through skl2onnx and onnxmltools."""

from __future__ import annotations

import functools
import warnings

from ._preprocessing import OPSET

__all__ = ["head_graph"]

ML_OPSET = 3  # ai.onnx.ml: what skl2onnx and onnxmltools write for opset 18


@functools.cache
def _register_xgboost():
    """onnxmltools' XGBoost converter, registered with skl2onnx for XGBoost inside a Pipeline (skl2onnx's own
    documented recipe), for XGBoost's class and hybridtl's label-encoding subclass."""
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes
    from xgboost import XGBClassifier

    from ..heads import LabelXGBClassifier

    for kind in (XGBClassifier, LabelXGBClassifier):
        update_registered_converter(kind, f"XGBoost{kind.__name__}", calculate_linear_classifier_output_shapes,
                                    convert_xgboost, options={"nocl": [True, False], "zipmap": [True, False]})


def _plain(step):
    """hybridtl's float64-output scalers as the scikit-learn steps they extend (skl2onnx converts those); the
    float32 graph computes what they compute, in float32."""
    from sklearn.base import clone
    from sklearn.preprocessing import Normalizer, StandardScaler

    from ..heads import Float64Normalizer, Float64Scaler

    for ours, theirs in ((Float64Normalizer, Normalizer), (Float64Scaler, StandardScaler)):
        if type(step) is ours:
            plain = theirs(**clone(step).get_params())
            plain.__dict__.update({k: v for k, v in step.__dict__.items() if k.endswith("_")})
            return plain
    return step


def head_graph(steps, n_features, input_name="features", output_name="probabilities"):
    """The ONNX model of fitted scikit-learn ``steps`` (transformers, then a classifier) on float32 features.

    Parameters
    ----------
    steps : list of (str, estimator)
    n_features : int
    input_name, output_name : str

    Returns
    -------
    onnx.ModelProto
        ``input_name`` float32 (N, n_features) -> ``output_name`` float32 (N, n_classes).

    Raises
    ------
    ValueError
        A step skl2onnx has no converter for: its type.
    """
    import onnx
    from onnx import helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.pipeline import Pipeline

    _register_xgboost()
    pipe = Pipeline([(name, _plain(step)) for name, step in steps])
    final = pipe.steps[-1][1]
    try:
        with warnings.catch_warnings():  # skl2onnx reads attributes scikit-learn deprecates (SVC's probA_)
            warnings.simplefilter("ignore", FutureWarning)
            model = convert_sklearn(pipe, initial_types=[(input_name, FloatTensorType([None, n_features]))],
                                    target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
                                    options={id(final): {"zipmap": False}})
    except Exception as exc:  # skl2onnx raises RuntimeError (MissingShapeCalculator, ...) and others
        names = ", ".join(type(step).__name__ for _, step in steps)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"skl2onnx cannot convert the head ({names}): {reason}") from None
    graph = model.graph
    probabilities = graph.output[1].name  # skl2onnx's classifier outputs: label, then probabilities
    if probabilities != output_name:
        graph.node.append(helper.make_node("Identity", [probabilities], [output_name]))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(output_name, onnx.TensorProto.FLOAT, ["n", None]))
    return model
