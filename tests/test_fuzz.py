"""200 damaged files made from real JPEG/PNG/TIFF files: each one reads or gives the documented error, never another."""

import multiprocessing
import warnings

import numpy as np
import pytest
import skimage.data
from PIL import Image

from hybridtl.features import CNNFeatureExtractor
from hybridtl.images import ImageReadError, SkippedImagesWarning, find_unreadable, read_image

N_CASES = 200


def _sources(folder):
    photo = skimage.data.astronaut()[100:196, 150:278]  # a real photo, 96 x 128
    files = []
    for name, kwargs in [("a.jpg", {"quality": 90}), ("b.png", {}), ("c.tiff", {}), ("d.gif", {}), ("e.webp", {})]:
        Image.fromarray(photo).save(folder / name, **kwargs)
        files.append(folder / name)
    return files


def _mutations(sources, folder, seed=0):
    """Byte flips, truncations, random bytes under image suffixes and empty files, named by kind."""
    rng = np.random.default_rng(seed)
    kinds = ["flip", "truncate", "random", "empty", "splice"]
    made = []
    for i in range(N_CASES):
        kind, source = kinds[i % len(kinds)], sources[rng.integers(len(sources))]
        data = bytearray(source.read_bytes())
        if kind == "flip":
            for position in rng.integers(0, len(data), size=rng.integers(1, 40)):
                data[position] ^= 1 << int(rng.integers(8))
        elif kind == "truncate":
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == "random":
            data = bytearray(rng.integers(0, 256, size=int(rng.integers(1, 5000)), dtype=np.uint8).tobytes())
        elif kind == "empty":
            data = bytearray()
        else:  # a header from one format, the body of random bytes
            data = data[:64] + bytearray(rng.integers(0, 256, size=2000, dtype=np.uint8).tobytes())
        path = folder / f"{i:03d}_{kind}{source.suffix}"
        path.write_bytes(bytes(data))
        made.append(path)
    return made


def _read_one(path):
    """In a child process, so that a crash or a hang shows as such: 'ok', or the error's type and message."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = read_image(path)
        assert image.ndim == 3 and image.shape[0] == 3 and 0 <= float(image.min()) <= float(image.max()) <= 1
        return "ok", ""
    except ImageReadError as exc:
        return "ImageReadError", str(exc)
    except BaseException as exc:  # noqa: BLE001 - what the test looks for
        return type(exc).__name__, str(exc)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    return _mutations(_sources(folder), folder)


def test_every_damaged_file_reads_or_gives_the_documented_error(corpus):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pending = [pool.apply_async(_read_one, (str(p),)) for p in corpus]
        results = [job.get(timeout=60) for job in pending]  # a hang fails here
    assert len(results) == N_CASES
    others = [(p.name, kind, message) for p, (kind, message) in zip(corpus, results)
              if kind not in ("ok", "ImageReadError")]
    assert not others
    for path, (kind, message) in zip(corpus, results):
        if kind == "ImageReadError":
            assert path.name in message
    refused = sum(kind == "ImageReadError" for kind, _ in results)
    assert refused >= N_CASES * 0.4  # the empty and random ones at least


def test_skip_reports_each_bad_file_and_keeps_the_rest(corpus):
    sample = corpus[:40]
    bad = find_unreadable([str(p) for p in sample])
    assert all(isinstance(message, str) and sample[i].name in message for i, _, message in bad)
    ext = CNNFeatureExtractor(image_size=32, device="cpu", on_error="skip", cache=None).fit()
    with pytest.warns(SkippedImagesWarning, match=f"skipped {len(bad)} of 40 images"):
        features = ext.transform([str(p) for p in sample])
    rows_nan = np.isnan(features).all(axis=1)
    assert sorted(np.flatnonzero(rows_nan).tolist()) == [i for i, _, _ in bad]
    assert np.isfinite(features[~rows_nan]).all()
