"""Extraction in bf16 and int8 through OpenVINO: close to fp32, keyed apart in the cache, int8's calibration kept as
data that rebuilds the same model where it is loaded, refused or fallen back clearly."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

from hybridtl.features import CNNFeatureExtractor, PrecisionLossWarning, RuntimeFallbackWarning, installed_runtimes
from hybridtl.images import load_digits_images


@pytest.fixture(scope="module")
def photos():
    import skimage.data

    rng = np.random.default_rng(0)
    images = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()[..., :3]]
    crops = []
    for image in images:
        for _ in range(4):
            top, left = rng.integers(0, image.shape[0] - 128), rng.integers(0, image.shape[1] - 128)
            crops.append(image[top : top + 128, left : left + 128])
    return np.stack(crops)


def test_bf16_features_stay_close_to_fp32(photos):
    assert "openvino" in installed_runtimes()  # make install installs it
    fp32 = CNNFeatureExtractor(device="cpu", cache=None).fit().transform(photos)
    bf16 = CNNFeatureExtractor(device="cpu", cache=None, precision="bf16").fit().transform(photos)
    cosine = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cosine.min() > 0.97 and bf16.dtype == np.float32


def test_the_cache_keeps_precisions_apart(photos):
    fp32 = CNNFeatureExtractor(device="cpu").fit()
    bf16 = CNNFeatureExtractor(device="cpu", precision="bf16").fit()
    assert fp32._cache_settings() != bf16._cache_settings()
    first = fp32.transform(photos[:2])
    assert not np.array_equal(bf16.transform(photos[:2]), first)  # not read back from fp32's entries


def test_a_runtime_without_bf16_computes_fp32_with_one_warning():
    X, _ = load_digits_images()
    ext = CNNFeatureExtractor(image_size=32, device="cpu", runtime="torch", precision="bf16").fit()  # cache="auto"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = ext.transform(X[:4])
    assert [w.category for w in caught] == [RuntimeFallbackWarning]
    assert "needs the OpenVINO runtime" in str(caught[0].message)
    fp32 = CNNFeatureExtractor(image_size=32, device="cpu", runtime="torch", cache=None).fit()
    np.testing.assert_array_equal(got, fp32.transform(X[:4]))


def test_precision_is_checked_and_kept():
    with pytest.raises(ValueError, match='"precision" must be one of .fp32., .bf16., .int8.; got .int4.'):
        CNNFeatureExtractor(precision="int4").fit()
    ext = CNNFeatureExtractor(image_size=32, device="cpu", precision="bf16").fit()
    assert pickle.loads(pickle.dumps(ext)).get_params()["precision"] == "bf16"


def _cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def int8(photos):
    """An int8 extractor at 64 px calibrated on the first 8 crops, and its features of all 12."""
    ext = CNNFeatureExtractor(image_size=64, device="cpu", cache=None, precision="int8").fit(photos[:8])
    return ext, ext.transform(photos)


def test_int8_calibrates_on_fits_images_and_stays_close_to_fp32(int8, photos):
    ext, features = int8
    fp32 = CNNFeatureExtractor(image_size=64, device="cpu", cache=None).fit().transform(photos)
    assert _cosine(fp32, features).mean() > 0.9 and features.dtype == np.float32
    calibration = ext.calibration_
    assert calibration["runtime"] == "openvino" and calibration["images"] == 8
    # plain data only: the activation ranges and corrected biases, not a model
    assert all(isinstance(v, np.ndarray) for v in calibration["constants"].values())
    assert 0 < sum(v.nbytes for v in calibration["constants"].values()) < 1_000_000


def test_a_loaded_int8_extractor_rebuilds_the_same_model_from_its_calibration(int8, photos, tmp_path):
    """In a fresh process (no memoised runner), from the safe model file: the same features, bit for bit."""
    from hybridtl.serialization import save

    ext, features = int8
    save(ext, tmp_path / "int8.hybridtl")
    np.save(tmp_path / "photos.npy", photos)
    code = (f"import numpy as np, hybridtl; ext = hybridtl.load({str(tmp_path / 'int8.hybridtl')!r}); "
            f"np.save({str(tmp_path / 'got.npy')!r}, ext.transform(np.load({str(tmp_path / 'photos.npy')!r})))")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "got.npy"), features)


def test_int8_calibrates_on_at_most_calibration_images_and_again_at_each_fit(photos, monkeypatch):
    """Up to CALIBRATION_IMAGES of fit's images; a refit calibrates on its own, whatever the earlier fit left."""
    import hybridtl.features._extractor as module

    monkeypatch.setattr(module, "CALIBRATION_IMAGES", 3)
    ext = CNNFeatureExtractor(image_size=32, device="cpu", cache=None, precision="int8")
    ext.calibration_ = None  # as a failed calibration leaves it
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionLossWarning)  # these crops agree well above the bar
        assert ext.fit(photos).calibration_["images"] == 3
    first = ext.calibration_["digest"]
    assert 0.95 < ext.int8_agreement_ <= 1.0 + 1e-6
    # a bar the agreement misses: fit says so, naming the figure, and still fits
    monkeypatch.setattr(module, "INT8_AGREEMENT", 1.5)
    with pytest.warns(PrecisionLossWarning, match=r"mean cosine of (0|1)\.\d{3} \(below 1.5.*expect a loss"):
        assert ext.fit(photos[:2]).calibration_["images"] == 2 and ext.calibration_["digest"] != first


def test_int8_needs_images_at_fit():
    with pytest.raises(ValueError, match="precision='int8' calibrates on the images given to fit"):
        CNNFeatureExtractor(image_size=32, device="cpu", precision="int8").fit()


def test_the_cache_keeps_int8_calibrations_apart(int8, photos):
    ext, _ = int8
    other = CNNFeatureExtractor(image_size=64, device="cpu", cache=None, precision="int8").fit(photos[4:])
    fp32 = CNNFeatureExtractor(image_size=64, device="cpu").fit()
    settings = [e._cache_settings() for e in (ext, other, fp32)]
    assert settings[0] != settings[1] and settings[0] != settings[2]


def test_int8_without_openvino_computes_fp32_with_one_warning():
    X, _ = load_digits_images()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ext = CNNFeatureExtractor(image_size=32, device="cpu", runtime="onnxruntime", cache=None,
                                  precision="int8").fit(X[:4])
        got = ext.transform(X[:4])
    assert ext.calibration_ is None
    assert {w.category for w in caught} == {RuntimeFallbackWarning}
    assert "precision='int8' needs the OpenVINO runtime (runtime='onnxruntime' here)" in str(caught[0].message)
    fp32 = CNNFeatureExtractor(image_size=32, device="cpu", runtime="onnxruntime", cache=None).fit()
    np.testing.assert_allclose(got, fp32.transform(X[:4]), atol=1e-6)


def test_a_calibration_that_does_not_fit_the_graph_falls_back_to_fp32_saying_why(int8, photos):
    ext, _ = int8
    broken = pickle.loads(pickle.dumps(ext))
    broken.calibration_ = {**ext.calibration_, "count": ext.calibration_["count"] + 1, "digest": "another"}
    with pytest.warns(RuntimeFallbackWarning, match="fits a graph of .* constants"):
        got = broken.transform(photos[:2])
    eager = CNNFeatureExtractor(image_size=64, device="cpu", runtime="torch", cache=None).fit()
    np.testing.assert_allclose(got, eager.transform(photos[:2]), atol=1e-4)

