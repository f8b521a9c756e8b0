"""Safe model files: hybridtl.save / hybridtl.load round trips, and files that would run code are refused."""

import os
import pickle
import warnings
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import hybridtl
from hybridtl.cli import main
from hybridtl.recipes import list_recipes, load_recipe

SETTINGS = {"image_size": 32, "device": "cpu", "epochs": 1, "batch_size": 16, "random_state": 0, "progress": False}


@pytest.fixture(scope="module")
def labelled(digits):
    X, y = digits
    keep = np.concatenate([np.flatnonzero(y == c)[:15] for c in (3, 5, 8)])
    return X[keep], np.array([f"digit_{v}" for v in y[keep]])  # string labels, as users have


@pytest.mark.parametrize("name", list_recipes())
def test_every_recipe_round_trips_with_identical_probabilities(name, labelled, tmp_path, monkeypatch):
    X, y = labelled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_recipe(name).build(**SETTINGS).fit(X, y)
    path = tmp_path / "model.hybridtl"
    hybridtl.save(model, path)

    def no_pickle(*args, **kwargs):
        raise AssertionError("hybridtl.load unpickled something")

    monkeypatch.setattr(pickle, "loads", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "Unpickler", no_pickle)
    loaded = hybridtl.load(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["card.json", "manifest.json", "model.skops", "weights.safetensors"]


def test_fine_tuned_history_survives(labelled, tmp_path):
    X, y = labelled
    clf = hybridtl.FineTuneClassifier(weights=None, image_size=32, epochs=2, device="cpu", progress=False,
                                      random_state=0).fit(X, y)
    hybridtl.save(clf, tmp_path / "ft.hybridtl")
    loaded = hybridtl.load(tmp_path / "ft.hybridtl")
    assert loaded.history_.equals(clf.history_) and loaded.best_epoch_ == clf.best_epoch_


class _Marker:
    """Unpickling this creates a file: what a malicious model file would do instead."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_that_runs_code_is_refused_by_the_cli(tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.joblib"
    joblib.dump({"payload": _Marker(str(marker))}, evil)
    images = tmp_path / "img"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (16, 16)).save(images / "a.png")
    capsys.readouterr()
    assert main(["predict", str(evil), str(images), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--trust-pickle" in err
    assert not marker.exists()


def test_joblib_still_works_for_those_who_choose_it(labelled, tmp_path):
    X, y = labelled
    model = load_recipe("pixels_logreg").build(**SETTINGS).fit(X, y)
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X), model.predict_proba(X))
    folder = tmp_path / "img" / "digit_3"
    folder.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(X[0]).save(folder / "a.png")
    assert main(["predict", str(tmp_path / "m.joblib"), str(folder.parent), "--out", str(tmp_path / "p.csv"),
                 "--trust-pickle"]) == 0


def test_a_safe_file_naming_an_untrusted_type_is_refused(tmp_path):
    dangerous = Pipeline([("run", FunctionTransformer(os.system))])
    hybridtl.save(dangerous, tmp_path / "evil.hybridtl")
    with pytest.raises(ValueError, match=r"names types hybridtl does not trust.*system"):
        hybridtl.load(tmp_path / "evil.hybridtl")


def test_not_a_model_file_and_damaged_files(tmp_path, labelled):
    (tmp_path / "text.hybridtl").write_text("hello")
    with pytest.raises(ValueError, match="is not a hybridtl model file"):
        hybridtl.load(tmp_path / "text.hybridtl")
    X, y = labelled
    hybridtl.save(load_recipe("pixels_logreg").build(**SETTINGS).fit(X, y), tmp_path / "ok.hybridtl")
    with zipfile.ZipFile(tmp_path / "ok.hybridtl") as src, zipfile.ZipFile(tmp_path / "bad.hybridtl", "w") as dst:
        dst.writestr("manifest.json", src.read("manifest.json"))
        dst.writestr("model.skops", src.read("model.skops")[:100])
        dst.writestr("weights.safetensors", b"")
    with pytest.raises(ValueError, match="damaged hybridtl model file"):
        hybridtl.load(tmp_path / "bad.hybridtl")
