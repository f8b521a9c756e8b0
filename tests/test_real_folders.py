"""Folders as users have them (hidden junk, bad files, links), on_error, and the CLI's contract on real files."""

import os
import stat
import subprocess
import sys
import time
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import skimage.data
from PIL import Image

from hybridtl.cli import _verbs as cli, main
from hybridtl.features import CNNFeatureExtractor
from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import SkippedImagesWarning, as_image_set, load_data, load_image_folder

TINY = ["--image-size", "32", "--epochs", "1", "--no-progress", "--batch-size", "16"]
PHOTOS = {"cat": skimage.data.chelsea, "coffee": skimage.data.coffee}


def _crops(photo, n, seed):
    rng = np.random.default_rng(seed)
    h, w = photo.shape[:2]
    for _ in range(n):
        y, x = rng.integers(0, h - 64), rng.integers(0, w - 64)
        yield photo[y : y + 64, x : x + 64]


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Two classes of real photo crops (JPEG, PNG, upper-case suffixes) plus the junk real folders hold."""
    root = tmp_path_factory.mktemp("messy")
    for label, (name, load) in enumerate(PHOTOS.items()):
        (root / name).mkdir()
        for i, crop in enumerate(_crops(load(), 6, label)):
            suffix = [".jpg", ".png", ".JPG"][i % 3]
            Image.fromarray(crop).save(root / name / f"{name}_{i:02d}{suffix}",
                                       format="JPEG" if "j" in suffix.lower() else "PNG")
    junk = {
        "cat/._cat_00.jpg": b"\x00\x05\x16\x07 AppleDouble",  # macOS resource fork
        "cat/.DS_Store": b"junk",
        "cat/notes.txt": b"not an image",
        "coffee/.ipynb_checkpoints/x-checkpoint.png": None,
        "coffee/deeper/.hidden/y.png": None,
        "__MACOSX/cat/._a.jpg": b"junk",
        ".git/objects/z.png": None,
    }
    for rel, content in junk.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            Image.new("RGB", (8, 8), (0, 255, 0)).save(path)
        else:
            path.write_bytes(content)
    os.symlink(root / "coffee", root / "coffee" / "deeper" / "loop")  # a link loop must end
    return root


@pytest.fixture(scope="module")
def with_corrupt(messy, tmp_path_factory):
    """The messy folder plus one truncated JPEG in 'cat'."""
    root = tmp_path_factory.mktemp("corrupt")
    for path in load_image_folder(messy)[0]:
        target = root / os.path.relpath(path, messy)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(open(path, "rb").read())
    data = (root / "cat" / "cat_00.jpg").read_bytes()
    (root / "cat" / "cat_00.jpg").write_bytes(data[: len(data) // 3])
    return root


def test_hidden_items_are_skipped_at_every_depth(messy):
    paths, labels = load_image_folder(messy)
    names = [os.path.relpath(p, messy) for p in paths]
    assert len(paths) == 12 and sorted(set(labels)) == ["cat", "coffee"]
    assert not [n for n in names if "/." in n or n.startswith(("__MACOSX", "."))]
    assert "cat/cat_02.JPG" in names  # upper-case suffixes count
    assert all(".txt" not in n for n in names)


def test_fit_and_predict_ignore_the_junk(messy, tmp_path):
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(messy), "--recipe", "cnn_logreg", "--out", str(model), *TINY]) == 0
    preds = tmp_path / "p.csv"
    assert main(["predict", str(model), str(messy), "--out", str(preds), "--no-progress"]) == 0
    assert len(pd.read_csv(preds)) == 12


def test_on_error_skip_in_the_extractor(with_corrupt):
    paths, _ = load_image_folder(with_corrupt)
    ext = CNNFeatureExtractor(image_size=32, device="cpu", on_error="skip").fit()
    with pytest.warns(SkippedImagesWarning, match=r"skipped 1 of 12 images .*cat_00.jpg"):
        features = ext.transform(paths)
    bad = [i for i, p in enumerate(paths) if p.endswith("cat_00.jpg")]
    assert np.isnan(features[bad]).all() and not np.isnan(np.delete(features, bad, axis=0)).any()
    good = CNNFeatureExtractor(image_size=32, device="cpu").fit().transform(np.delete(np.asarray(paths), bad))
    np.testing.assert_allclose(np.delete(features, bad, axis=0), good, atol=1e-5)
    with pytest.raises(ValueError, match="cat_00.jpg.*corrupt or truncated"):
        CNNFeatureExtractor(image_size=32, device="cpu").fit().transform(paths)


def test_on_error_skip_in_fine_tuning(with_corrupt):
    paths, labels = load_image_folder(with_corrupt)
    clf = FineTuneClassifier(weights=None, image_size=32, epochs=1, batch_size=4, validation_fraction=None,
                             device="cpu", progress=False, random_state=0, on_error="skip")
    with pytest.warns(SkippedImagesWarning, match="skipped 1 of 12 training images"):
        clf.fit(paths, labels)
    with pytest.warns(SkippedImagesWarning):
        predicted = clf.predict(paths)
    bad = [i for i, p in enumerate(paths) if p.endswith("cat_00.jpg")]
    assert predicted[bad[0]] is None and set(np.delete(predicted, bad)) <= {"cat", "coffee"}
    with pytest.raises(ValueError, match='"on_error" must be one of'):
        clf.set_params(on_error="ignore").fit(paths, labels)


def test_cli_skip_bad_reports_and_keeps_going(with_corrupt, tmp_path, capsys):
    model = tmp_path / "model.hybridtl"
    argv = ["fit", str(with_corrupt), "--recipe", "cnn_logreg", "--out", str(model), *TINY]
    assert main(argv) == 2  # without --skip-bad the bad file stops the run, named
    assert "cat_00.jpg" in capsys.readouterr().err and not model.exists()
    assert main(argv + ["--skip-bad"]) == 0
    assert "skipped 1 of 12 images" in capsys.readouterr().err
    skipped = pd.read_csv(tmp_path / "model.skipped.csv")
    assert len(skipped) == 1 and skipped["path"][0].endswith("cat_00.jpg") and "corrupt" in skipped["error"][0]
    preds = tmp_path / "p.csv"
    assert main(["predict", str(model), str(with_corrupt), "--out", str(preds), "--skip-bad", "--no-progress"]) == 0
    table = pd.read_csv(preds)
    assert len(table) == 12  # a row for the bad file too, not a gap
    bad = table[table["path"].str.endswith("cat_00.jpg")]
    assert len(bad) == 1 and "corrupt" in bad["error"].iloc[0] and bad["proba_cat"].isna().all()
    assert table.drop(bad.index)["error"].isna().all()


def test_predict_a_single_image_file(messy, tmp_path):
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(messy), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
    one = messy / "cat" / "cat_01.png"
    assert main(["predict", str(model), str(one), "--out", str(tmp_path / "one.csv")]) == 0
    assert pd.read_csv(tmp_path / "one.csv")["path"].tolist() == [str(one)]
    assert main(["extract", str(one), "--out", str(tmp_path / "one.npz"), "--image-size", "32", "--no-progress"]) == 0


def _one_line_exit_2(argv, capsys, *needles):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"hybridtl {argv[0]}: error:"), err
    for needle in needles:
        assert needle in err, err
    return err


def test_model_files_that_are_not_models(messy, tmp_path, capsys):
    good = tmp_path / "m.hybridtl"
    assert main(["fit", str(messy), "--recipe", "pixels_logreg", "--out", str(good), *TINY]) == 0
    cases = {"dict.joblib": None, "text.joblib": b"this is a text file\n" * 10,
             "truncated.joblib": good.read_bytes()[:200], "empty.joblib": b""}
    for name, content in cases.items():
        path = tmp_path / name
        if content is None:
            joblib.dump({"model": 1}, path)
        else:
            path.write_bytes(content)
        _one_line_exit_2(["predict", str(path), str(messy), "--out", str(tmp_path / "p.csv")], capsys, name)
        _one_line_exit_2(["predict", str(path), str(messy), "--out", str(tmp_path / "p.csv"), "--trust-pickle"],
                         capsys, name)
    _one_line_exit_2(["predict", str(tmp_path / "dict.joblib"), str(messy), "--out", str(tmp_path / "p.csv"),
                      "--trust-pickle"], capsys, "holds a dict, not a fitted")
    assert not (tmp_path / "p.csv").exists()


def test_outputs_and_options_are_checked_before_any_work(messy, tmp_path, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(CNNFeatureExtractor, "transform", no_work)
    monkeypatch.setattr(cli, "_load", no_work)
    _one_line_exit_2(["extract", str(messy), "--out", str(tmp_path / "feats.csv")], capsys,
                     "must end in .npz or .parquet")
    _one_line_exit_2(["fit", str(messy), "--recipe", "cnn_logreg", "--out", "/proc/x.joblib"], capsys,
                     "cannot write '/proc/x.joblib'")
    _one_line_exit_2(["predict", "m.hybridtl", str(messy), "--out", "/proc/p.csv"], capsys, "/proc/p.csv")
    _one_line_exit_2(["bench", str(messy), "--recipes", "nope", "--out", str(tmp_path / "b")], capsys, "unknown recipe")
    real_find_spec = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec",
                        lambda name: None if name == "pyarrow" else real_find_spec(name))
    _one_line_exit_2(["extract", str(messy), "--out", str(tmp_path / "f.parquet")], capsys, "pip install pyarrow")


def test_a_size_the_backbone_cannot_take_is_caught_up_front(messy, tmp_path, capsys):
    out = tmp_path / "f.npz"
    _one_line_exit_2(["extract", str(messy), "--out", str(out), "--backbone", "timm:vit_tiny_patch16_224",
                      "--weights", "none", "--image-size", "64"], capsys, "cannot take image_size=64", "accepted: 224")
    assert not out.exists()


def test_files_written_have_normal_permissions(messy, tmp_path):
    old = os.umask(0o022)
    try:
        model = tmp_path / "m.hybridtl"
        assert main(["fit", str(messy), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
        assert main(["predict", str(model), str(messy), "--out", str(tmp_path / "p.csv")]) == 0
        assert main(["evaluate", str(model), str(messy), "--out", str(tmp_path / "ev")]) == 0
        for path in [model, tmp_path / "p.csv", *(tmp_path / "ev").iterdir()]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    finally:
        os.umask(old)


def test_csv_paths_stay_as_the_user_wrote_them(messy, tmp_path):
    rows = [(os.path.relpath(p, messy), label) for p, label in zip(*load_image_folder(messy))]
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(messy / "list.csv", index=False)
    try:
        model = tmp_path / "m.hybridtl"
        assert main(["fit", str(messy / "list.csv"), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
        assert main(["predict", str(model), str(messy / "list.csv"), "--out", str(tmp_path / "p.csv")]) == 0
        assert pd.read_csv(tmp_path / "p.csv")["path"].tolist() == [r[0] for r in rows]
    finally:
        (messy / "list.csv").unlink()


def test_evaluate_writes_tables_and_warns_about_unseen_classes(messy, tmp_path, capsys):
    model = tmp_path / "m.hybridtl"
    only_cat = tmp_path / "only"
    (only_cat / "cat").mkdir(parents=True)
    (only_cat / "dog").mkdir()
    for p in sorted((messy / "cat").glob("cat_0[0-3].*")):
        (only_cat / "cat" / p.name).write_bytes(p.read_bytes())
    for p in sorted((messy / "coffee").glob("coffee_0[0-3].*")):
        (only_cat / "dog" / p.name).write_bytes(p.read_bytes())
    assert main(["fit", str(messy), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
    with pytest.warns(UserWarning, match=r"classes the model never saw.*'dog'"):
        assert main(["evaluate", str(model), str(only_cat), "--out", str(tmp_path / "ev")]) == 0
    metrics = pd.read_csv(tmp_path / "ev" / "metrics.csv")
    assert metrics["metric"].tolist() == ["accuracy", "macro_f1", "n_images"] and metrics["value"][2] == 8
    report = pd.read_csv(tmp_path / "ev" / "classification_report.csv", index_col=0)
    assert {"cat", "dog", "coffee"} <= set(report.index)
    assert (tmp_path / "ev" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_predict_overrides_saved_runtime_settings(messy, tmp_path, monkeypatch):
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(messy), "--recipe", "cnn_logreg", "--out", str(model), *TINY]) == 0
    seen = {}
    real = CNNFeatureExtractor.transform

    def spy(self, X):
        seen.update(self.get_params())
        return real(self, X)

    monkeypatch.setattr(CNNFeatureExtractor, "transform", spy)
    assert main(["predict", str(model), str(messy), "--out", str(tmp_path / "p.csv"), "--device", "cpu",
                 "--batch-size", "3", "--no-progress"]) == 0
    assert seen["device"] == "cpu" and seen["batch_size"] == 3 and seen["progress"] is False


def test_ctrl_c_during_fit_exits_130_and_keeps_the_earlier_model(messy, tmp_path, monkeypatch, capsys):
    from hybridtl.finetune import _steps as training

    model = tmp_path / "model.hybridtl"
    model.write_bytes(b"the earlier model")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "run_epoch", interrupted)
    monkeypatch.setattr("hybridtl.finetune._trainer.run_epoch", interrupted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["fit", str(messy), "--recipe", "finetune_head", "--out", str(model), *TINY])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert model.read_bytes() == b"the earlier model"


def test_help_is_fast_and_import_is_light():
    code = "import sys, hybridtl; print('torch' in sys.modules, 'xgboost' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
    best = min(_timed([sys.executable, "-m", "hybridtl", verb, "--help"])
               for verb in ["fit", "predict", "extract", "bench"] for _ in range(2))
    assert best < 1.5


def _timed(argv):
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    assert done.returncode == 0 and "usage: hybridtl" in done.stdout
    return time.perf_counter() - start


def test_shared_parameters_are_checked_alike(rgb_images):
    for estimator in (CNNFeatureExtractor(device="cpu"), FineTuneClassifier(device="cpu", weights=None)):
        for bad, match in [({"image_size": 0}, '"image_size" must be None'),
                           ({"batch_size": 0}, '"batch_size" must be'),
                           ({"device": "tpu"}, '"device" must be one of'),
                           ({"num_workers": -1}, '"num_workers" must be')]:
            with pytest.raises(ValueError, match=match):
                estimator.set_params(**bad).fit(rgb_images, [0, 1, 0, 1, 0])
            estimator.set_params(image_size=None, batch_size=8, device="cpu", num_workers=0)


def test_probabilities_are_float64_from_both_kinds(small_digits):
    from hybridtl.heads import make_hybrid_pipeline

    X, y = small_digits
    for head in ("logreg", "svm", "xgboost"):
        pipe = make_hybrid_pipeline(head, image_size=32, device="cpu").fit(X, y)
        assert pipe.predict_proba(X[:2]).dtype == np.float64
    clf = FineTuneClassifier(weights=None, image_size=32, epochs=1, device="cpu", progress=False).fit(X, y)
    assert clf.predict_proba(X[:2]).dtype == np.float64


def test_a_table_with_several_columns_is_refused_clearly(tmp_path):
    frame = pd.DataFrame({"path": ["a.png", "b.png"], "label": ["x", "y"]})
    with pytest.raises(TypeError, match=r"DataFrame with 2 columns \['path', 'label'\]; pass one column"):
        as_image_set(frame)


def test_a_csv_with_blank_labels_is_refused_with_the_lines(messy, tmp_path, capsys):
    paths = sorted(str(p) for p in (messy / "cat").glob("cat_0*.*"))[:4]
    csv = tmp_path / "labels.csv"
    pd.DataFrame({"path": paths, "label": ["cat", None, "cat", None]}).to_csv(csv, index=False)
    assert main(["fit", str(csv), "--recipe", "pixels_logreg", "--out", str(tmp_path / "m.hybridtl"), *TINY]) == 2
    assert "has 2 row(s) with no label (line 3, 5)" in capsys.readouterr().err
    assert load_data(csv, labelled=False).X == paths  # predict needs no labels


def test_bench_extracts_each_image_once_for_all_hybrid_recipes(messy, tmp_path, monkeypatch):
    seen = []
    real = CNNFeatureExtractor._extract
    monkeypatch.setattr(CNNFeatureExtractor, "_extract",
                        lambda self, images, on_batch=None: seen.append(len(images)) or real(self, images, on_batch))
    out = tmp_path / "bench"
    assert main(["bench", str(messy), "--recipes", "cnn_logreg", "cnn_xgboost", "--out", str(out), *TINY]) == 0
    assert sum(seen) == 12  # one extraction shared by both hybrid recipes
    results = pd.read_csv(out / "results.csv")
    assert results["shared_extract_seconds"].notna().all() and results["shared_extract_seconds"].nunique() == 1


def test_predict_streams_in_chunks_with_the_same_result(with_corrupt, tmp_path, monkeypatch):
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(with_corrupt), "--recipe", "cnn_logreg", "--out", str(model), "--skip-bad", *TINY]) == 0
    argv = ["predict", str(model), str(with_corrupt), "--skip-bad", "--no-progress", "--out"]
    assert main(argv + [str(tmp_path / "whole.csv")]) == 0
    monkeypatch.setattr(cli, "PREDICT_CHUNK", 5)
    assert main(argv + [str(tmp_path / "chunks.csv")]) == 0
    whole, chunks = pd.read_csv(tmp_path / "whole.csv"), pd.read_csv(tmp_path / "chunks.csv")
    assert len(chunks) == 12 and chunks["error"].notna().sum() == 1
    pd.testing.assert_frame_equal(chunks, whole)
