"""scikit-learn heads (and XGBoost) as ONNX graphs, through skl2onnx and onnxmltools; linear heads in standard
operators.

skl2onnx writes a logistic regression, a normaliser and a scaler as ``ai.onnx.ml`` operators
(``LinearClassifier``, ``Normalizer``, ``Scaler``), which ONNX Runtime runs and OpenVINO's ONNX
reader does not (it converts no ``ai.onnx.ml`` operator). Those three are a matrix product, a sum and
a division, so :func:`linear_head_graph` writes them in standard operators by hand (``MatMul``,
``Sigmoid``, ``Softmax``, ...), as scikit-learn computes ``predict_proba``: the whole hybrid model with
a logistic head then runs in OpenVINO too. Other heads (the calibrated SVM, XGBoost) go through the
converters."""

from __future__ import annotations

import functools
import warnings

from ._preprocessing import OPSET

__all__ = ["head_graph", "linear_head_graph"]

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


def _normalizer_nodes(step, x, g):
    import numpy as np

    if step.norm != "l2":
        return None
    norm = g.node("ReduceL2", [x, g.constant([1], np.int64)], [g.fresh("norm")], keepdims=1)
    zero = g.node("Equal", [norm, g.constant(0, np.float32)], [g.fresh("zero_norm")])
    safe = g.node("Where", [zero, g.constant(1, np.float32), norm], [g.fresh("safe_norm")])  # zero rows stay zero
    return g.node("Div", [x, safe], [g.fresh("unit")])


def _scaler_nodes(step, x, g):
    import numpy as np

    if getattr(step, "mean_", None) is not None and step.with_mean:
        x = g.node("Sub", [x, g.constant(step.mean_, np.float32)], [g.fresh("centred")])
    if getattr(step, "scale_", None) is not None and step.with_std:
        x = g.node("Div", [x, g.constant(step.scale_, np.float32)], [g.fresh("scaled")])
    return x


def _logistic_nodes(step, x, g, output_name):
    """``predict_proba`` of a fitted LogisticRegression as scikit-learn computes it: the sigmoid of the one score
    for two classes, else the softmax of the scores."""
    import numpy as np

    coef = step.coef_.astype(np.float32).T
    scores = g.node("Add", [g.node("MatMul", [x, g.constant(coef, np.float32)], [g.fresh("product")]),
                            g.constant(step.intercept_, np.float32)], [g.fresh("scores")])
    if coef.shape[1] == 1:
        positive = g.node("Sigmoid", [scores], [g.fresh("positive")])
        negative = g.node("Sub", [g.constant(1, np.float32), positive], [g.fresh("negative")])
        return g.node("Concat", [negative, positive], [output_name], axis=1)
    return g.node("Softmax", [scores], [output_name], axis=1)


_LINEAR_STEPS = {"Normalizer": _normalizer_nodes, "Float64Normalizer": _normalizer_nodes,
                 "StandardScaler": _scaler_nodes, "Float64Scaler": _scaler_nodes}


def linear_head_graph(steps, n_features, input_name="features", output_name="probabilities"):
    """``steps`` (an L2 normaliser or a standard scaler, then a logistic regression) in standard ONNX operators,
    or None when they are anything else (then :func:`head_graph` converts them with skl2onnx).

    Examples
    --------
    >>> import numpy as np, onnxruntime as ort
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import Normalizer
    >>> X, y = np.random.default_rng(0).random((30, 4), dtype=np.float32), np.arange(30) % 3
    >>> steps = [("scale", Normalizer().fit(X)), ("head", LogisticRegression().fit(Normalizer().fit_transform(X), y))]
    >>> session = ort.InferenceSession(linear_head_graph(steps, 4).SerializeToString())
    >>> expected = steps[1][1].predict_proba(steps[0][1].transform(X))
    >>> bool(np.allclose(session.run(None, {"features": X})[0], expected, atol=1e-5))
    True
    """
    from onnx import TensorProto, helper
    from sklearn.linear_model import LogisticRegression

    from ._assembly import GraphBuilder

    *transforms, (_, final) = steps
    if type(final) is not LogisticRegression or any(type(s).__name__ not in _LINEAR_STEPS for _, s in transforms):
        return None
    g = GraphBuilder()
    g.opsets[""] = OPSET
    x = input_name
    for _, step in transforms:
        x = _LINEAR_STEPS[type(step).__name__](step, x, g)
        if x is None:
            return None
    _logistic_nodes(final, x, g, output_name)
    return g.model([helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["n", n_features])],
                   [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["n", len(final.classes_)])])


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

    linear = linear_head_graph(steps, n_features, input_name, output_name)
    if linear is not None:
        return linear
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
