"""The per-image feature cache: hits, keys, atomic writes, concurrent writers, grid searches."""

import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

import hybridtl.features._cache as cache_module
from hybridtl.features import CNNFeatureExtractor
from hybridtl.heads import make_hybrid_pipeline


def _extractor(directory, **params):
    return CNNFeatureExtractor(image_size=32, device="cpu", batch_size=4, cache=directory, **params).fit()


@pytest.fixture
def count_extracted(monkeypatch):
    """Counts the images that really go through the network."""
    seen = []
    real = CNNFeatureExtractor._extract

    def counting(self, images, on_batch=None):
        seen.append(len(images))
        return real(self, images, on_batch)

    monkeypatch.setattr(CNNFeatureExtractor, "_extract", counting)
    return seen


def _entries(directory):
    return sorted(directory.rglob("*.npy"))


def test_second_transform_reads_the_cache(tmp_path, rgb_images, count_extracted):
    ext = _extractor(tmp_path)
    first = ext.transform(rgb_images)
    assert count_extracted == [5] and len(_entries(tmp_path)) == 5
    second = _extractor(tmp_path).transform(rgb_images[::-1])
    assert count_extracted == [5]  # nothing new went through the network
    np.testing.assert_array_equal(second, first[::-1])
    fresh = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=4).fit()
    np.testing.assert_array_equal(first, fresh.transform(rgb_images))


def test_only_new_images_are_extracted(tmp_path, rgb_images, count_extracted):
    _extractor(tmp_path).transform(rgb_images[:3])
    _extractor(tmp_path).transform(rgb_images)
    assert count_extracted == [3, 2]


@pytest.mark.parametrize("change", [{"pooling": "max"}, {"image_size": 48}, {"layer": "blocks.4"}, {"weights": None}])
def test_a_changed_setting_never_reads_a_stale_entry(tmp_path, rgb_images, change, count_extracted):
    _extractor(tmp_path).transform(rgb_images)
    params = {"image_size": 32, **change}
    changed = CNNFeatureExtractor(device="cpu", batch_size=4, cache=tmp_path, **params).fit()
    got = changed.transform(rgb_images)
    assert count_extracted == [5, 5]
    fresh = CNNFeatureExtractor(device="cpu", batch_size=4, **params).fit()
    np.testing.assert_array_equal(got, fresh.transform(rgb_images))


def test_joblib_memory_is_accepted(tmp_path, rgb_images, count_extracted):
    memory = joblib.Memory(tmp_path, verbose=0)
    _extractor(memory).transform(rgb_images)
    _extractor(memory).transform(rgb_images)
    assert count_extracted == [5]
    assert _entries(tmp_path / "hybridtl-features")
    with pytest.raises(TypeError, match='"cache" must be .auto., None, a folder path or a joblib.Memory; got'):
        _extractor(42)


def test_a_crash_mid_write_leaves_no_entry(tmp_path, rgb_images, monkeypatch):
    real_save = np.save

    def crash(f, array, **kw):
        f.write(b"\x93NUMPY half")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_module.np, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        _extractor(tmp_path).transform(rgb_images)
    assert _entries(tmp_path) == [] and not list(tmp_path.rglob("*.tmp*"))
    monkeypatch.setattr(cache_module.np, "save", real_save)
    expected = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=4).fit().transform(rgb_images)
    np.testing.assert_array_equal(_extractor(tmp_path).transform(rgb_images), expected)


def test_an_interrupted_transform_keeps_the_finished_batches(tmp_path, rgb_images, monkeypatch):
    ext = _extractor(tmp_path, runtime="torch")  # the interrupt is a hook on the PyTorch module
    real_model = ext.model_
    calls = []

    def interrupt_second(module, args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    handle = real_model.register_forward_pre_hook(interrupt_second)
    with pytest.raises(KeyboardInterrupt):
        ext.transform(rgb_images)
    handle.remove()
    entries = _entries(tmp_path)
    assert len(entries) == 4  # the first batch of 4
    assert all(np.load(e).shape == (1280,) for e in entries)
    fresh = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=4, runtime="torch").fit()
    expected = fresh.transform(rgb_images)
    np.testing.assert_array_equal(ext.transform(rgb_images), expected)


def test_a_damaged_entry_is_recomputed(tmp_path, rgb_images):
    expected = _extractor(tmp_path).transform(rgb_images)
    _entries(tmp_path)[0].write_bytes(b"garbage")
    np.testing.assert_array_equal(_extractor(tmp_path).transform(rgb_images), expected)


def test_concurrent_processes_share_one_cache(tmp_path, rgb_images):
    np.save(tmp_path / "images.npy", rgb_images)
    script = textwrap.dedent(f"""
        import numpy as np
        from hybridtl.features import CNNFeatureExtractor
        X = np.load({str(tmp_path / "images.npy")!r})
        ext = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=1, cache={str(tmp_path / "cache")!r})
        np.save(__import__("sys").argv[1], ext.fit().transform(X))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"out{i}.npy")]) for i in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    a, b = np.load(tmp_path / "out0.npy"), np.load(tmp_path / "out1.npy")
    np.testing.assert_array_equal(a, b)
    entries = _entries(tmp_path / "cache")
    assert len(entries) == 5 and all(np.load(e).shape == (1280,) for e in entries)
    np.testing.assert_array_equal(_extractor(tmp_path / "cache").transform(rgb_images), a)


@pytest.mark.parametrize("where", ["disk", "default (in memory)"])
def test_gridsearch_extracts_each_image_once(tmp_path, small_digits, count_extracted, where):
    X, y = small_digits
    params = {"cache": tmp_path} if where == "disk" else {}
    pipe = make_hybrid_pipeline("logreg", image_size=32, device="cpu", **params)
    search = GridSearchCV(pipe, {"head__C": [0.1, 1.0, 10.0]}, cv=5).fit(X, y)
    assert sum(count_extracted) == len(X)  # 16 fits (15 + refit), each image through the network once
    assert search.best_score_ > 0.8


def test_no_cache_extracts_on_every_fit(small_digits, count_extracted):
    X, y = small_digits
    pipe = make_hybrid_pipeline("logreg", image_size=32, device="cpu", cache=None)
    GridSearchCV(pipe, {"head__C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert sum(count_extracted) > 3 * len(X)


def test_random_weights_are_keyed_by_their_values(tmp_path, rgb_images, count_extracted):
    import torch

    from hybridtl.features import _memo

    first = CNNFeatureExtractor(weights=None, image_size=32, device="cpu", cache=tmp_path).fit()
    first.transform(rgb_images)
    _memo.frozen_model.cache_clear()  # as in another process: a new random initialisation
    with torch.random.fork_rng():
        torch.manual_seed(12345)
        second = CNNFeatureExtractor(weights=None, image_size=32, device="cpu", cache=tmp_path).fit()
    got = second.transform(rgb_images)
    assert count_extracted == [5, 5]
    assert not np.allclose(got, first.transform(rgb_images))


def _photo_files(root, n=6):
    """``n`` real-photo BMP crops (uncompressed: a file rewritten with another crop keeps its size)."""
    import skimage.data
    from PIL import Image

    photo = skimage.data.astronaut()
    paths = []
    for i in range(n):
        paths.append(str(root / f"{i}.bmp"))
        Image.fromarray(photo[40 * i : 40 * i + 48, 60 : 60 + 40]).save(paths[-1])
    return paths


@pytest.fixture
def count_hashed(monkeypatch):
    """Which files are read whole to be hashed."""
    read = []
    real = cache_module._content_hash

    def counting(item):
        read.append(str(item))
        return real(item)

    monkeypatch.setattr(cache_module, "_content_hash", counting)
    return read


def test_a_file_seen_before_is_not_read_again_to_find_its_features(tmp_path, count_hashed, count_extracted):
    paths = _photo_files(tmp_path)
    ext = _extractor("auto")
    first = ext.transform(paths)
    assert sorted(count_hashed) == sorted(paths) and count_extracted == [6]
    np.testing.assert_array_equal(ext.transform(paths[::-1]), first[::-1])  # a second pass, as a grid search's
    assert len(count_hashed) == 6 and count_extracted == [6]  # no file read again, nothing extracted again


def test_an_edited_file_of_the_same_size_is_hashed_and_extracted_again(tmp_path, count_hashed, count_extracted):
    import os
    from pathlib import Path

    paths = _photo_files(tmp_path)
    ext = _extractor("auto")
    first = ext.transform(paths)
    stat = os.stat(paths[0])
    with open(paths[0], "r+b") as f:  # rewritten in place: same inode, same size, another photo
        f.write(Path(paths[1]).read_bytes())
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # 1 ns later is enough
    assert os.stat(paths[0]).st_ino == stat.st_ino and os.stat(paths[0]).st_size == stat.st_size
    again = ext.transform(paths)
    assert count_hashed[6:] == [paths[0]] and count_extracted == [6]  # its content is paths[1]'s: a cache hit
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[1:], first[1:])


def test_hashing_in_threads_gives_the_keys_in_order(tmp_path):
    paths = _photo_files(tmp_path)
    cache_module.clear_memory()
    threaded = cache_module.image_keys(paths, threads=2)
    cache_module.clear_memory()
    assert threaded == [cache_module.image_key(p) for p in paths] and len(set(threaded)) == 6
