"""Phone-photo folders: decoding at the size the model needs, 8-bit resizing, decoding threads, decoding once
per fit, HEIC/AVIF, bounded memory. The small version of benchmarks/photo_folder.py."""

import importlib.util
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from sklearn.base import clone

import hybridtl.images._items as items_module
from hybridtl.cli import main
from hybridtl.core import InvalidParameterError
from hybridtl.features import CNNFeatureExtractor
from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import (
    Preprocess,
    SkippedImagesWarning,
    as_image_set,
    decoded_once,
    decoded_store,
    list_images,
    read_image,
)

spec = importlib.util.spec_from_file_location("photo_bench",
                                              Path(__file__).parent.parent / "benchmarks" / "photo_folder.py")
photo_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(photo_bench)


def _cosine(a, b):
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    """Four 12-MP phone JPEGs in two class folders (two with EXIF orientation 6: stored landscape, shown portrait),
    and 448-px copies."""
    root = tmp_path_factory.mktemp("phone")
    paths, labels = photo_bench.write_photos(root / "phone", ("chelsea", "coffee"), 2, seed=0)
    return paths, labels, photo_bench.shrunk_copies(paths, root / "copies")


def _folder(phone):
    """The phone photos' folder: one subfolder per class (chelsea, coffee), as the command line reads it."""
    return Path(phone[0][0]).parents[1]


@pytest.fixture
def counted_opens(monkeypatch):
    """How often each file is opened for decoding (threads share the counter; no worker processes here)."""
    opened = {}
    real = items_module.open_pixels

    def counting(path, where=None, min_side=None):
        opened[str(path)] = opened.get(str(path), 0) + 1
        return real(path, where, min_side)

    monkeypatch.setattr(items_module, "open_pixels", counting)
    return opened


def _png_folder(root, n, size=(40, 48), seed=0):
    rng = np.random.default_rng(seed)
    photo = skimage.data.astronaut()
    arrays, paths = [], []
    for i in range(n):
        y, x = rng.integers(0, 400, 2)
        crop = photo[y : y + size[0], x : x + size[1]]
        label = "ab"[i % 2]
        (root / label).mkdir(parents=True, exist_ok=True)
        paths.append(str(root / label / f"{i:03d}.png"))
        Image.fromarray(crop).save(paths[-1])
        arrays.append(crop)
    return paths, np.array(["ab"[i % 2] for i in range(n)]), np.stack(arrays)


def test_a_phone_jpeg_decodes_at_the_smallest_scale_that_keeps_the_side_and_its_orientation(phone):
    paths, _, _ = phone
    landscape, portrait = read_image(paths[0], min_side=256), read_image(paths[1], min_side=256)
    assert tuple(landscape.shape) == (3, 378, 504)  # libjpeg's 1/8 of 4032x3024
    assert tuple(portrait.shape) == (3, 504, 378)  # EXIF orientation 6 applied after scaling
    assert tuple(read_image(paths[1], min_side=400).shape) == (3, 1008, 756)  # 1/4: 1/8 would give 378 < 400
    assert tuple(read_image(paths[1]).shape) == (3, 4032, 3024)
    assert read_image(paths[0], min_side=3100).shape[1] == 3024  # larger than the image: every pixel


def test_a_truncated_phone_jpeg_fails_at_every_scale(phone, tmp_path):
    data = Path(phone[0][0]).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: int(len(data) * 0.9)])
    for min_side in (None, 16, 256):
        with pytest.raises(ValueError, match="cut.jpg: corrupt or truncated"):
            read_image(tmp_path / "cut.jpg", min_side=min_side)


def test_other_formats_are_reduced_by_a_whole_factor_to_at_least_twice_the_side(tmp_path):
    photo = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((1200, 900)))
    Image.fromarray(photo).save(tmp_path / "big.png")
    assert tuple(read_image(tmp_path / "big.png", min_side=100).shape) == (3, 225, 300)  # reduce(4): 225 >= 200
    assert tuple(read_image(tmp_path / "big.png", min_side=300).shape) == (3, 900, 1200)  # 900 // 600 = 1
    deep = (np.asarray(Image.fromarray(photo[..., 0]), np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    got = read_image(tmp_path / "deep.png", min_side=100)  # 16-bit: not reducible by PIL, decoded whole
    assert got.dtype == torch.float32 and tuple(got.shape) == (3, 900, 1200) and got.max() <= 1


def test_fast_features_match_exact_on_phone_photos(phone):
    paths, _, _ = phone
    fast = CNNFeatureExtractor(device="cpu", cache=None).fit().transform(paths)
    exact = CNNFeatureExtractor(device="cpu", cache=None, decode="exact").fit().transform(paths)
    assert _cosine(fast, exact).mean() >= 0.99, _cosine(fast, exact)


def test_arrays_and_files_of_the_same_pixels_give_the_same_features(tmp_path):
    paths, _, arrays = _png_folder(tmp_path, 6)
    for decode in ("fast", "exact"):
        ext = CNNFeatureExtractor(image_size=32, device="cpu", cache=None, decode=decode).fit()
        np.testing.assert_allclose(ext.transform(paths), ext.transform(arrays), atol=1e-5)
        np.testing.assert_allclose(ext.transform(paths), ext.transform(list(arrays)), atol=1e-5)


def test_8_bit_pixels_are_resized_as_uint8_within_about_a_level_of_floats():
    photo = torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1)[None]
    for size in (32, 224):
        fast = Preprocess(size, 0.875, (0.5,) * 3, (0.5,) * 3, "bicubic", "fast")
        as_uint8 = fast.resize_crop(photo)
        assert as_uint8.dtype == torch.uint8
        levels = (as_uint8.float() - fast.resize_crop(photo.float()).clamp(0, 255)).abs()
        assert levels.max() <= 1.5 and levels.mean() <= 0.5, (levels.max(), levels.mean())
        exact = Preprocess(size, 0.875, (0.5,) * 3, (0.5,) * 3, "bicubic", "exact")
        assert exact.load(photo[0].permute(1, 2, 0).numpy(), 0).dtype == torch.float32  # exact: the float path


def test_decoding_threads_give_the_same_features_as_the_caller_alone(tmp_path, counted_opens):
    paths, _, _ = _png_folder(tmp_path, 40)
    serial = CNNFeatureExtractor(image_size=32, device="cpu", cache=None, num_workers=0).fit().transform(paths)
    assert set(counted_opens.values()) == {1}
    threaded = CNNFeatureExtractor(image_size=32, device="cpu", cache=None, num_workers="auto").fit()
    np.testing.assert_array_equal(threaded.transform(paths), serial)
    assert set(counted_opens.values()) == {2}
    processes = CNNFeatureExtractor(image_size=32, device="cpu", cache=None, num_workers=2).fit()
    np.testing.assert_array_equal(processes.transform(paths), serial)


def test_an_unreadable_file_among_threads_names_itself(tmp_path):
    paths, _, _ = _png_folder(tmp_path, 12)
    Path(paths[7]).write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"image 7 \(.*007.png\)"):
        CNNFeatureExtractor(image_size=32, device="cpu", cache=None).fit().transform(paths)


def test_heic_and_avif_read_like_jpeg_with_orientation(tmp_path):
    photo = Image.fromarray(skimage.data.chelsea())

    def exif():  # a new one for each file: the AVIF writer moves the orientation out of the one it is given
        tags = Image.Exif()
        tags[0x0112] = 6  # shown rotated a quarter turn clockwise
        return tags

    photo.save(tmp_path / "cat.heic", quality=95, exif=exif().tobytes())
    photo.save(tmp_path / "cat.avif", quality=95, exif=exif())
    photo.save(tmp_path / "cat.jpg", quality=95, exif=exif())
    (tmp_path / "notes.txt").write_text("not an image")
    assert [Path(p).name for p in list_images(tmp_path)] == ["cat.avif", "cat.heic", "cat.jpg"]
    jpeg = read_image(tmp_path / "cat.jpg")
    assert tuple(jpeg.shape) == (3, 451, 300)
    for name in ("cat.heic", "cat.avif"):
        got = read_image(tmp_path / name)
        assert got.shape == jpeg.shape, name
        assert (got - jpeg).abs().mean() < 0.02, name  # lossy codecs, the same picture the same way up


def test_fine_tuning_decodes_each_file_once_per_fit_and_not_again_on_the_same_files(tmp_path, counted_opens):
    decoded_store().clear()
    paths, labels, _ = _png_folder(tmp_path, 24, size=(96, 128))
    clf = FineTuneClassifier(epochs=3, image_size=32, batch_size=8, device="cpu", progress=False, random_state=0,
                             strategy="full", patience=10)
    clf.fit(paths, labels)
    assert len(clf.history_) == 3 and sorted(counted_opens) == sorted(paths) and set(counted_opens.values()) == {1}
    clone(clf).fit(paths[:12], labels[:12])  # a grid-search fold, an auto contender: the decoded copies
    assert set(counted_opens.values()) == {1}
    proba = clf.predict_proba(paths)  # the same files at the same preprocessing: the decoded copies
    assert set(counted_opens.values()) == {1}
    decoded_store().clear()
    np.testing.assert_allclose(clf.predict_proba(paths), proba, atol=1e-6)  # read from the files: the same
    assert set(counted_opens.values()) == {2}


def test_skipping_unreadable_files_decodes_each_file_once_and_trains_as_without_them(tmp_path, counted_opens):
    decoded_store().clear()
    paths, labels, _ = _png_folder(tmp_path, 16, size=(96, 128))
    broken = tmp_path / "a" / "broken.jpg"
    broken.write_bytes(Path(paths[0]).read_bytes()[:200])  # a PNG's first 200 bytes: truncated
    missing = str(tmp_path / "b" / "gone.png")
    photo = Image.open(paths[3])  # a PIL image among the files: checked as before, kept
    given = paths[:5] + [str(broken)] + paths[5:] + [photo, missing]
    given_labels = [*labels[:5], "a", *labels[5:], labels[3], "b"]
    params = dict(epochs=2, image_size=32, batch_size=8, device="cpu", progress=False, random_state=0,
                  strategy="full", validation_fraction=None)
    with pytest.warns(SkippedImagesWarning, match="skipped 2 of 19 training images.*broken.jpg.*gone.png"):
        skipping = FineTuneClassifier(on_error="skip", **params).fit(given, given_labels)
    files = [item for item in given if isinstance(item, str)]
    assert sorted(counted_opens) == sorted(files) and set(counted_opens.values()) == {1}  # probe = decode
    decoded_store().clear()
    plain = FineTuneClassifier(**params).fit(paths + [photo], [*labels, labels[3]])
    np.testing.assert_allclose(skipping.predict_proba(paths), plain.predict_proba(paths), atol=1e-6)


def test_auto_halving_decodes_each_file_once_for_every_contender_and_rung(tmp_path, counted_opens):
    from hybridtl.auto._halving import Halving
    from hybridtl.auto._leaderboard import Leaderboard
    from hybridtl.auto._splits import Folds

    decoded_store().clear()
    paths, labels, _ = _png_folder(tmp_path, 24, size=(96, 128))
    labels = np.asarray(labels)
    folds = Folds(labels, cv=5, seed=0)
    names = ["full", "two_stage"]
    contenders = {name: FineTuneClassifier(strategy=name, image_size=32, batch_size=8, device="cpu", progress=False,
                                           random_state=0, head_epochs=1) for name in names}
    board = Leaderboard(names, dict.fromkeys(names, "finetune"))
    halving = Halving(contenders, np.asarray(paths, dtype=object), labels, folds, "accuracy", np.unique(labels),
                      board, lambda name: None)
    results = halving.run(epochs=2, deadline=time.monotonic() + 300)
    # rungs of 1 and 2 epochs: three fits, three predictions of the held-out fold; each file read once
    assert sorted(result.epochs for result in results.values()) == [1, 2]
    assert sorted(counted_opens) == sorted(paths) and set(counted_opens.values()) == {1}
    held_out = [paths[i] for i in folds.holdout]
    decoded_store().clear()  # the files themselves: the same probabilities as the decoded copies gave
    for result in results.values():
        np.testing.assert_allclose(result.model.predict_proba(held_out), result.holdout_proba, atol=1e-6)


def test_extraction_reads_the_files_this_process_decoded_at_its_preprocessing(tmp_path, counted_opens):
    decoded_store().clear()
    paths, _, _ = _png_folder(tmp_path, 12, size=(96, 128))
    ext = CNNFeatureExtractor(image_size=32, device="cpu", cache=None).fit()
    decoded_once(as_image_set(paths), ext.preprocess_)
    assert sorted(counted_opens) == sorted(paths) and set(counted_opens.values()) == {1}
    from_copies = ext.transform(paths)
    assert set(counted_opens.values()) == {1}  # read from the store
    CNNFeatureExtractor(image_size=48, device="cpu", cache=None).fit().transform(paths)
    assert set(counted_opens.values()) == {2}  # another preprocessing reads the files
    decoded_store().clear()
    np.testing.assert_allclose(ext.transform(paths), from_copies, atol=1e-6)  # the files give the same


def test_auto_decodes_each_file_once_for_its_hybrid_and_fine_tuned_contenders(tmp_path, counted_opens):
    from hybridtl.auto import AutoClassifier

    decoded_store().clear()
    paths, labels, _ = _png_folder(tmp_path, 30, size=(96, 112))
    auto = AutoClassifier(time_budget=300, recipes=["cnn_logreg", "finetune_full"], image_size=32, epochs=2,
                          cv=3, device="cpu", progress=False, random_state=0).fit(paths, labels)
    board = auto.leaderboard_.set_index("contender")
    assert (board.loc[["cnn_logreg", "finetune_full"], "status"] == "done").all()
    # pricing, features, cross-validation, rungs, held-out scoring, the ensemble and the refit: one read each
    assert sorted(counted_opens) == sorted(paths) and set(counted_opens.values()) == {1}
    proba = auto.predict_proba(paths)
    decoded_store().clear()
    np.testing.assert_allclose(auto.predict_proba(paths), proba, atol=1e-6)  # the files give the same


def test_lr_find_decodes_each_file_once_and_the_fit_after_it_none(tmp_path, counted_opens):
    decoded_store().clear()
    paths, labels, _ = _png_folder(tmp_path, 16, size=(96, 128))
    clf = FineTuneClassifier(epochs=1, image_size=32, batch_size=8, device="cpu", progress=False, random_state=0)
    frame, _ = clf.lr_find(paths, labels, num_iter=6)  # 6 batches of 8: each of the 16 files 3 times
    assert len(frame) == 6 and sorted(counted_opens) == sorted(paths) and set(counted_opens.values()) == {1}
    clf.fit(paths, labels)
    assert set(counted_opens.values()) == {1}


def test_decoded_copies_beyond_the_memory_bound_go_to_disk_and_train_the_same(tmp_path, monkeypatch):
    paths, labels, _ = _png_folder(tmp_path, 16, size=(96, 128))
    params = dict(epochs=2, image_size=32, batch_size=8, device="cpu", progress=False, random_state=0,
                  augment="light")
    decoded_store().clear()
    in_memory = FineTuneClassifier(**params).fit(paths, labels).predict_proba(paths)
    decoded_store().clear()
    monkeypatch.setattr(decoded_store(), "memory_bytes", 3 * 37 * 49 * 3)  # three 37x49 copies
    spilled = FineTuneClassifier(**params).fit(paths, labels).predict_proba(paths)
    store = decoded_store()
    assert store.memory_used <= store.memory_bytes
    assert sum(isinstance(store.get(k), np.memmap) for k in list(store._disk)) >= 13
    np.testing.assert_allclose(spilled, in_memory, atol=1e-6)
    decoded_store().clear()


def test_extracting_12mp_photos_peaks_under_500mb_above_their_small_copies(phone, tmp_path):
    paths, _, copies = phone
    many, many_copies = [], []
    for i in range(24):  # 24 files (hard links): memory must not grow with the number of photos
        for kind, source, out in (("phone", paths, many), ("copy", copies, many_copies)):
            link = tmp_path / f"{kind}{len(out)}.jpg"
            os.link(source[i % 4], link)
            out.append(str(link))
    big, small = photo_bench.peak_mb(many, tmp_path), photo_bench.peak_mb(many_copies, tmp_path)
    assert big - small < 500, (big, small)


def test_decode_is_validated_and_files_saved_before_it_existed_read_every_pixel():
    with pytest.raises(InvalidParameterError, match="decode.*'fast', 'exact'.*got 'quick'"):
        CNNFeatureExtractor(decode="quick").fit()
    ext = CNNFeatureExtractor(image_size=32, device="cpu").fit()
    state = pickle.loads(pickle.dumps(ext)).__getstate__()
    del state["decode"]
    old = CNNFeatureExtractor.__new__(CNNFeatureExtractor)
    old.__setstate__(state)
    assert old.decode == "exact"


def test_the_command_line_takes_decode_and_auto_workers(tmp_path, phone):
    folder = _folder(phone)
    got = {}
    for decode in ("fast", "exact"):
        out = tmp_path / f"{decode}.npz"
        assert main(["extract", str(folder), "--out", str(out), "--no-progress", "--decode", decode,
                     "--num-workers", "auto"]) == 0
        got[decode] = np.load(out)["features"]
    assert _cosine(got["fast"], got["exact"]).mean() >= 0.99
    with pytest.raises(SystemExit) as exit_:
        main(["extract", str(folder), "--out", str(tmp_path / "x.npz"), "--decode", "quick"])
    assert exit_.value.code == 2


def test_fit_and_predict_take_decode_and_a_saved_model_reads_as_it_was_fitted(tmp_path, phone):
    import hybridtl

    folder = _folder(phone)
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(folder), "--recipe", "cnn_logreg", "--decode", "exact", "--out", str(model),
                 "--image-size", "64", "--no-progress"]) == 0
    features = hybridtl.load(model).steps[0][1]
    assert features.decode == "exact" and features.preprocess_.decode == "exact"
    for decode in ([], ["--decode", "fast"]):
        out = tmp_path / f"p{len(decode)}.csv"
        assert main(["predict", str(model), str(folder), "--out", str(out), "--no-progress", *decode]) == 0
        assert len(out.read_text().splitlines()) == 5
