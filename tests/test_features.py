import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from hybridtl.features import CNNFeatureExtractor


@pytest.fixture(scope="module")
def extractor():
    return CNNFeatureExtractor(image_size=32, device="cpu", batch_size=4).fit()


def test_transform_shape_dtype_and_determinism(extractor, rgb_images):
    features = extractor.transform(rgb_images)
    assert features.shape == (5, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 0
    np.testing.assert_array_equal(features, extractor.transform(rgb_images))
    # batch size does not change the result beyond float noise
    other = clone(extractor).set_params(batch_size=5).fit()
    np.testing.assert_allclose(other.transform(rgb_images), features, atol=1e-4)


def test_feature_names_and_pandas_output(extractor, rgb_images):
    names = extractor.get_feature_names_out()
    assert names[0] == "efficientnet_lite0_avg_0" and len(names) == 1280
    frame = clone(extractor).set_output(transform="pandas").fit().transform(rgb_images)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == list(names)


@pytest.mark.parametrize("pooling, width", [("avg", 1280), ("max", 1280), ("gem", 1280), ("avgmax", 2560)])
def test_poolings(rgb_images, pooling, width):
    ext = CNNFeatureExtractor(pooling=pooling, image_size=32, device="cpu").fit()
    assert ext.transform(rgb_images[:2]).shape == (2, width) == (2, ext.n_features_out_)


def test_tapping_a_named_layer(rgb_images):
    ext = CNNFeatureExtractor(layer="blocks.4", image_size=32, device="cpu").fit()
    assert ext.transform(rgb_images[:2]).shape == (2, 112)
    assert ext.get_feature_names_out()[0] == "efficientnet_lite0_blocks_4_avg_0"


def test_torchvision_backbone_random_weights(rgb_images):
    ext = CNNFeatureExtractor("torchvision:resnet18", weights=None, image_size=32, device="cpu").fit()
    assert ext.transform(rgb_images[:2]).shape == (2, 512)
    tapped = CNNFeatureExtractor("torchvision:resnet18", weights=None, layer="layer2", image_size=32, device="cpu")
    assert tapped.fit().transform(rgb_images[:2]).shape == (2, 128)


def test_bad_parameters_fail_at_fit():
    with pytest.raises(ValueError, match="unknown layer 'blocks.99'.*blocks.4"):
        CNNFeatureExtractor(layer="blocks.99").fit()
    with pytest.raises(ValueError, match='"pooling" must be one of .avg., .max., .gem., .avgmax.; got .median.'):
        CNNFeatureExtractor(pooling="median").fit()
    with pytest.raises(ValueError, match="batch_size"):
        CNNFeatureExtractor(batch_size=0).fit()
    with pytest.raises(ValueError, match='"device" must be one of'):
        CNNFeatureExtractor(device="tpu").fit()
    with pytest.raises(ValueError, match="unknown backbone"):
        CNNFeatureExtractor(backbone="resnet").fit()


def test_init_only_stores_and_clone_roundtrips():
    ext = CNNFeatureExtractor(layer="nonsense", pooling="bogus", batch_size=-1)  # no validation in __init__
    params = ext.get_params()
    assert params["layer"] == "nonsense" and params["batch_size"] == -1
    assert clone(ext).get_params() == params
    assert ext.set_params(pooling="max").pooling == "max"
    assert not hasattr(ext, "model_")


def test_unfitted_transform_raises(rgb_images):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CNNFeatureExtractor().transform(rgb_images)


def test_joblib_roundtrip_carries_the_weights(extractor, rgb_images, tmp_path, monkeypatch):
    expected = extractor.transform(rgb_images)
    path = tmp_path / "ext.joblib"
    joblib.dump(extractor, path)
    # the loading machine has no weights file: the pickle must not need it
    monkeypatch.setattr("hybridtl.backbones._registry.embedded_file", lambda package, holder: None)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.transform(rgb_images), expected)
    assert "model_" not in pickle.loads(pickle.dumps(extractor)).__getstate__()


def test_progress_bar_can_be_turned_on(extractor, rgb_images, capsys, monkeypatch):
    """On a terminal: off by default, drawn with progress=True; outside one (a log), never drawn."""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    extractor.transform(rgb_images)
    assert "img" not in capsys.readouterr().err
    on = clone(extractor).set_params(progress=True, cache=None).fit()
    on.transform(rgb_images)
    assert "features" in capsys.readouterr().err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    on.transform(rgb_images)
    assert capsys.readouterr().err == ""


def test_in_a_pipeline_from_files(tmp_path, rgb_images):
    from sklearn.linear_model import LogisticRegression

    paths = []
    for i, image in enumerate(rgb_images):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(image).save(paths[-1])
    pipe = Pipeline([("features", CNNFeatureExtractor(image_size=32, device="cpu")), ("head", LogisticRegression())])
    pipe.fit(paths, [0, 1, 0, 1, 0])
    np.testing.assert_allclose(pipe.predict_proba(paths), pipe.predict_proba(rgb_images), atol=1e-5)


def test_clones_share_the_frozen_model_and_never_move_it(rgb_images):
    """Issue 11's review bug: placing the shared model on a device must not move it under the other clones."""
    from hybridtl.features import placed

    a = CNNFeatureExtractor(image_size=32, device="cpu", runtime="torch", cache=None).fit()
    b = clone(a).fit()
    assert a.model_ is b.model_  # memoised, frozen, shared
    before = {k: (v.device, v.data_ptr()) for k, v in a.model_.state_dict().items()}
    elsewhere = placed(a.model_, torch.device("meta"))  # a second device, simulated
    assert elsewhere is not a.model_ and next(elsewhere.parameters()).device.type == "meta"
    assert placed(a.model_, torch.device("meta")) is elsewhere  # one copy per device, memoised
    assert {k: (v.device, v.data_ptr()) for k, v in a.model_.state_dict().items()} == before
    assert placed(a.model_, torch.device("cpu")) is a.model_
    np.testing.assert_array_equal(a.transform(rgb_images), b.transform(rgb_images))


def test_a_model_saved_before_new_parameters_existed_still_loads(rgb_images):
    ext = CNNFeatureExtractor(image_size=32, device="cpu").fit()
    state = ext.__getstate__()
    for added in ("on_error", "runtime"):
        del state[added]  # as in a file written by hybridtl 0.1.0
    old = CNNFeatureExtractor.__new__(CNNFeatureExtractor)
    old.__setstate__(state)
    assert old.get_params()["on_error"] == "raise" and old.get_params()["runtime"] == "auto"
    np.testing.assert_allclose(old.transform(rgb_images), ext.transform(rgb_images), atol=1e-6)
