"""``export_onnx``: a fitted model as one ONNX graph from uint8 pixels to probabilities, checked before it is
written."""

from __future__ import annotations

import importlib.util
import json

from ..core import atomic_path
from ._assembly import GraphBuilder
from ._kinds import add_model, as_the_graph_computes, preprocessings

__all__ = ["OWN_SIZE_TOLERANCE", "TOLERANCE", "ExportError", "check_images", "export_onnx", "onnx_graph"]

# The largest difference of a probability allowed between the graph and predict_proba. At the model's own
# size (the shorter side already the one the preprocessing resizes to) only the network and head differ:
# float32 arithmetic in another order, measured below 1e-6 for every kind (tests/test_export.py). Other
# sizes go through the resize too, torch's own filter and arithmetic: measured below 1e-6 as well (1e-4 for
# an ensemble of two input sizes); 0.02 is what the graph is held to against hybridtl predict on photos.
OWN_SIZE_TOLERANCE = 1e-4
TOLERANCE = 0.02
_NEEDS = ("onnx", "onnxruntime", "skl2onnx", "onnxmltools")


class ExportError(ValueError):
    """A model that cannot be exported, or whose graph disagrees with it; the message says what and why.

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> try:
    ...     export_onnx(DummyClassifier().fit([[0], [1]], [0, 1]), "never-written.onnx")
    ... except ExportError as error:
    ...     print(error)  # doctest: +ELLIPSIS
    cannot export DummyClassifier: no ONNX builder for this kind of model (exportable: ...)
    """


def _need_packages():
    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"exporting to ONNX needs {', '.join(missing)}: pip install 'hybridtl[onnx]'")


def onnx_graph(model):
    """The ONNX model of a fitted ``model``, unchecked: ``pixels`` -> ``probabilities``, ``label``.

    Parameters
    ----------
    model : fitted hybridtl model

    Returns
    -------
    onnx.ModelProto

    Examples
    --------
    >>> import numpy as np
    >>> from hybridtl.features import PixelFeatures
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> X = np.random.default_rng(0).integers(0, 256, (4, 20, 20, 3), dtype=np.uint8)
    >>> graph = onnx_graph(make_pipeline(PixelFeatures(), LogisticRegression()).fit(X, [0, 1, 0, 1]))
    >>> [i.name for i in graph.graph.input], [o.name for o in graph.graph.output]
    (['pixels'], ['probabilities', 'label'])
    """
    from onnx import TensorProto, helper

    _need_packages()
    if not hasattr(model, "classes_"):
        raise ExportError(f"cannot export {type(model).__name__}: it is not a fitted classifier (no classes_)")
    g = GraphBuilder()
    try:
        probs = add_model(model, g, "pixels")
    except ExportError:
        raise
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    g.node("Identity", [probs], ["probabilities"])
    g.node("ArgMax", ["probabilities"], ["label"], axis=1, keepdims=0)  # the first of equals, as numpy's argmax
    n_classes = len(model.classes_)
    graph = g.model([helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["n", "height", "width", 3])],
                    [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", n_classes]),
                     helper.make_tensor_value_info("label", TensorProto.INT64, ["n"])])
    graph.doc_string = ("uint8 RGB pixels (N, H, W, 3), any H and W -> probabilities (N, classes) float32 and "
                        "label (N,) int64, an index into the metadata's 'classes'")
    return graph


def check_images(model, seed=0):
    """Images the export compares the graph and ``predict_proba`` on: (own-size ones, other sizes).

    Generated, smooth with noise, as photos are: two whose shorter side is the
    one the preprocessing resizes to (landscape and portrait), and four of
    other sizes (smaller than the input, larger, odd).

    Parameters
    ----------
    model : fitted hybridtl model
    seed : int, default=0

    Returns
    -------
    (list of numpy.ndarray, list of numpy.ndarray)
        uint8 arrays (h, w, 3).

    Examples
    --------
    >>> from hybridtl.features import PixelFeatures
    >>> own, other = check_images(PixelFeatures(image_size=16).fit())
    >>> [image.shape for image in own]
    [(16, 53, 3), (37, 16, 3)]
    """
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    found = preprocessings(model)
    side = found[0].resize_side if found else 256

    def photo(h, w):
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
        noisy = np.asarray(coarse, np.float32) + rng.normal(0, 6, (h, w, 3))
        return np.clip(np.round(noisy), 0, 255).astype(np.uint8)

    own = [photo(side, side + 37), photo(side + 21, side)]
    other = [photo(97, 131), photo(240, 320), photo(413, 300), photo(700, 525)]
    return own, other


def _session(graph_bytes):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(graph_bytes, options, providers=["CPUExecutionProvider"])


def _largest_difference(model, session, images):
    import numpy as np

    if not images:
        raise ExportError("images to check the export on: none given")
    expected = np.asarray(model.predict_proba(list(images)), np.float64)
    got = np.concatenate([session.run(["probabilities"], {"pixels": image[None]})[0] for image in images])
    return float(np.abs(got - expected).max())


def _compare(model, graph_bytes, images):
    """The largest differences (own size, other sizes) between the graph and ``model.predict_proba``."""
    session = _session(graph_bytes)
    if images is not None:
        return None, _largest_difference(model, session, list(images))
    own, other = check_images(model)
    same_sizes = len({p.resize_side for p in preprocessings(model)}) <= 1
    if not same_sizes:  # an ensemble of different input sizes: no image is at every member's own size
        return None, _largest_difference(model, session, own + other)
    return _largest_difference(model, session, own), _largest_difference(model, session, other)


def _metadata(model, card, check):
    import onnx

    from .. import __version__

    sides = {p.resize_side if p.decode == "fast" else 0 for p in preprocessings(model)}
    entries = {
        "classes": json.dumps([str(c) for c in model.classes_]),
        # hybridtl decodes files at the size the model needs (decode="fast"): JPEGs at their smallest DCT scale
        # whose shorter side is still this, others box-reduced to twice it; 0: every pixel (decode="exact").
        # An ensemble's members each decode for themselves; one decode serves them all at the largest side.
        "decode_side": str(max(sides) if sides and 0 not in sides else 0),
        "model_card": json.dumps(card, default=str),
        "export_check": json.dumps(check),
        "hybridtl_version": __version__,
        "onnx_version": onnx.__version__,
    }
    return entries


def export_onnx(model, path, images=None, card=None):
    """Write ``model`` as one ONNX graph, preprocessing included, after checking it against ``predict_proba``.

    The graph takes uint8 RGB pixels of shape (N, H, W, 3), H and W free (one
    size per call), resizes, crops and normalises them as the model's own
    preprocessing does, and gives ``probabilities`` (N, n_classes) float32 and
    ``label`` (N,) int64, an index into the metadata entry ``classes`` (a JSON
    list of the labels as text). The metadata also holds the model card
    (``model_card``), the check's figures (``export_check``) and versions. It
    runs with ONNX Runtime alone (and OpenVINO, which reads ONNX).

    Parameters
    ----------
    model : fitted hybridtl model
        A hybrid Pipeline (CNN features, then L2 scaling and logistic
        regression, a calibrated SVM or XGBoost), the raw-pixel baseline, a
        ``FineTuneClassifier`` (any strategy, ``tta`` included), an
        ``AutoClassifier`` (whatever won, its soft-voting ensemble included),
        or a ``GridSearchCV`` of one of these.
    path : str or Path
        The ``.onnx`` file; written atomically, only once the check passes.
    images : sequence of uint8 arrays (h, w, 3), optional
        Images to compare the graph and ``predict_proba`` on (the model
        computing as the graph does: in fp32, on the CPU), within
        :data:`TOLERANCE`. By default six generated ones: two whose shorter side
        is the one the preprocessing resizes to (within :data:`OWN_SIZE_TOLERANCE`:
        only the network and the head can differ there) and four of other sizes.
    card : dict, optional
        The model card to embed (``hybridtl export`` passes the file's); by
        default :func:`hybridtl.serialization.model_card` of ``model``.

    Returns
    -------
    dict
        The check: images compared, the largest differences, the tolerances.

    Raises
    ------
    ExportError
        (a ``ValueError``) The model holds a part no converter handles (named,
        with why), or the graph's probabilities differ from ``predict_proba``
        beyond the tolerance (the largest difference named). Nothing is written.

    Examples
    --------
    >>> import numpy as np, tempfile, onnxruntime as ort
    >>> from hybridtl.heads import make_hybrid_pipeline
    >>> X = np.random.default_rng(0).integers(0, 256, (6, 40, 40, 3), dtype=np.uint8)
    >>> model = make_hybrid_pipeline("logreg", image_size=32, device="cpu").fit(X, [0, 1] * 3)
    >>> path = tempfile.mkdtemp() + "/model.onnx"
    >>> check = export_onnx(model, path)
    >>> session = ort.InferenceSession(path)
    >>> probs, label = session.run(None, {"pixels": X[:2]})
    >>> bool(np.abs(probs - model.predict_proba(X[:2])).max() < 1e-4)
    True
    >>> model.classes_[label].tolist() == model.predict(X[:2]).tolist()
    True
    """
    from ..serialization import model_card

    graph = onnx_graph(model)
    graph_bytes = graph.SerializeToString()
    with as_the_graph_computes(model) as precisions:  # fp32, on the CPU
        own, other = _compare(model, graph_bytes, images)
    check = {"own_size_largest_difference": own, "largest_difference": other,
             "own_size_tolerance": OWN_SIZE_TOLERANCE, "tolerance": TOLERANCE,
             "network_precision": "fp32", "computed_in": precisions or None}
    own_fails = own is not None and own > OWN_SIZE_TOLERANCE
    if own_fails or other > TOLERANCE:
        at = (f"{own:.2g} at the model's own size (tolerance {OWN_SIZE_TOLERANCE:g})" if own_fails
              else f"{other:.2g} (tolerance {TOLERANCE:g})")
        raise ExportError(f"the ONNX graph of {type(model).__name__} disagrees with its predict_proba: largest "
                          f"difference of a probability {at}; not written (does a callback or custom module "
                          "change the forward pass?)")
    card = model_card(model) if card is None else card
    for key, value in _metadata(model, card, check).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp:
        tmp.write_bytes(graph.SerializeToString())
    return check
