"""Extraction in bf16 through OpenVINO: close to fp32, keyed apart in the cache, refused or fallen back clearly."""

import pickle
import warnings

import numpy as np
import pytest

from hybridtl.features import CNNFeatureExtractor, RuntimeFallbackWarning, installed_runtimes
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
    with pytest.raises(ValueError, match='"precision" must be one of .fp32., .bf16.; got .int4.'):
        CNNFeatureExtractor(precision="int4").fit()
    ext = CNNFeatureExtractor(image_size=32, device="cpu", precision="bf16").fit()
    assert pickle.loads(pickle.dumps(ext)).get_params()["precision"] == "bf16"
