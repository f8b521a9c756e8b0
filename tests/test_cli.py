"""End to end through the ``hybridtl`` command on a small image folder the test writes."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hybridtl.cli import build_parser, main
from hybridtl.features import CNNFeatureExtractor
from hybridtl.images import load_digits_images

TINY = ["--image-size", "32", "--epochs", "1", "--no-progress", "--batch-size", "16"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Real digits 0, 1, 2 as RGB images in class folders, half PNG, half JPEG, of varying sizes."""
    root = tmp_path_factory.mktemp("images")
    X, y = load_digits_images()
    for label, name in enumerate(["zero", "one", "two"]):
        (root / name).mkdir()
        for i, image in enumerate(X[y == label][:12]):
            size = 24 + 4 * (i % 3)
            picture = Image.fromarray(image).resize((size, size)).convert("RGB")
            picture.save(root / name / (f"{i}.png" if i % 2 else f"{i}.jpg"), quality=95)
    return root


def test_fit_predict_evaluate(folder, tmp_path, capsys, monkeypatch):
    model = tmp_path / "model.hybridtl"
    assert main(["fit", str(folder), "--recipe", "cnn_logreg", "--out", str(model), *TINY]) == 0
    assert model.is_file()

    preds = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(folder), "--out", str(preds)]) == 0
    table = pd.read_csv(preds)
    assert list(table.columns) == ["path", "predicted", "proba_one", "proba_two", "proba_zero", "error"]
    assert table["error"].isna().all()  # every image read
    assert len(table) == 36 and set(table["predicted"]) <= {"zero", "one", "two"}
    np.testing.assert_allclose(table.filter(like="proba_").sum(axis=1), 1.0, atol=1e-6)
    truth = [p.split("/")[-2] for p in table["path"]]
    assert (table["predicted"] == truth).mean() > 0.8  # training data, real digits

    capsys.readouterr()
    extractions = []
    transform = CNNFeatureExtractor.transform
    monkeypatch.setattr(CNNFeatureExtractor, "transform", lambda self, X: extractions.append(1) or transform(self, X))
    assert main(["evaluate", str(model), str(folder), "--out", str(tmp_path / "eval")]) == 0
    assert len(extractions) == 1  # metrics and interpretation files from one pass of the CNN
    printed = capsys.readouterr().out
    accuracy = float(printed.split("accuracy")[1].split()[0])
    assert 0.8 < accuracy <= 1.0 and "macro-F1" in printed and "confusion matrix" in printed
    assert (tmp_path / "eval" / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    for picture in ("top_losses.png", "results.png"):
        assert (tmp_path / "eval" / picture).read_bytes()[:4] == b"\x89PNG"
    worst = pd.read_csv(tmp_path / "eval" / "top_losses.csv")
    assert list(worst.columns) == ["index", "actual", "predicted", "probability", "loss"]
    assert len(worst) == 36 and worst["loss"].is_monotonic_decreasing
    confused = pd.read_csv(tmp_path / "eval" / "most_confused.csv")
    assert list(confused.columns) == ["actual", "predicted", "count"]
    assert confused["count"].sum() == round((1 - accuracy) * 36)


def test_fit_with_grid_and_csv_data(folder, tmp_path, capsys):
    rows = [(str(p.relative_to(folder)), p.parent.name) for p in sorted(folder.rglob("*.*"))]
    csv = folder / "data.csv"
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(csv, index=False)
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(csv), "--recipe", "pixels_logreg", "--grid", "--out", str(model), *TINY]) == 0
    assert "best parameters {'head__C'" in capsys.readouterr().out
    csv.unlink()


def test_extract_npz_and_parquet(folder, tmp_path):
    npz = tmp_path / "f.npz"
    assert main(["extract", str(folder), "--out", str(npz), "--image-size", "32", "--no-progress"]) == 0
    saved = np.load(npz)
    assert saved["features"].shape == (36, 1280) and len(saved["paths"]) == 36
    assert sorted(set(saved["labels"])) == ["one", "two", "zero"]
    parquet = tmp_path / "f.parquet"
    assert main(["extract", str(folder), "--out", str(parquet), "--image-size", "32", "--no-progress"]) == 0
    table = pd.read_parquet(parquet)
    assert table.shape == (36, 2 + 1280) and list(table.columns[:3]) == ["path", "label", "efficientnet_lite0_avg_0"]
    np.testing.assert_allclose(table.iloc[:, 2:].to_numpy(), saved["features"], atol=1e-6)


def test_bench_writes_the_report(folder, tmp_path):
    out = tmp_path / "bench"
    recipes = ["pixels_logreg", "cnn_logreg", "finetune_head"]
    assert main(["bench", str(folder), "--recipes", *recipes, "--out", str(out), *TINY]) == 0
    results = pd.read_csv(out / "results.csv")
    assert results["recipe"].tolist() == recipes
    assert results["accuracy"].between(0, 1).all() and results["macro_f1"].between(0, 1).all()
    assert (results["fit_seconds"] > 0).all() and (results["predict_images_per_s"] > 0).all()
    assert (results["peak_rss_mb"] > 50).all() and set(results["device"]) == {"cpu"}
    assert "| recipe" in (out / "results.md").read_text()
    # by default the cheap grids are tuned (hybrid, baseline) and fine-tuning keeps its defaults
    assert results["grid_best"].fillna("").tolist()[2] == ""
    best = results["grid_best"].tolist()
    assert best[0].startswith("head__C=") and best[1].startswith("head__C=")
    for name in ["summary.png", "curves_finetune_head.png"] + [f"confusion_{r}.png" for r in recipes]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    # same seed, same accuracies
    again = tmp_path / "again"
    assert main(["bench", str(folder), "--recipes", *recipes, "--out", str(again), *TINY]) == 0
    pd.testing.assert_series_equal(pd.read_csv(again / "results.csv")["accuracy"], results["accuracy"])


def test_user_recipe_file(folder, tmp_path):
    recipe = tmp_path / "mine.py"
    recipe.write_text('"""Mine."""\nfrom hybridtl.recipes import hybrid_builder\n\n\ndef build(**settings):\n'
                      '    return hybrid_builder("logreg")(**settings).set_params(head__C=0.123)\n')
    assert main(["fit", str(folder), "--recipe", str(recipe), "--out", str(tmp_path / "m.hybridtl"), *TINY]) == 0
    from hybridtl import load
    from hybridtl.serialization import read_card

    assert load(tmp_path / "m.hybridtl").named_steps["head"].C == 0.123  # the user's recipe built the model
    assert read_card(tmp_path / "m.hybridtl")["recipe"]["name"] == "mine"


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "{tmp}/missing", "--recipe", "cnn_logreg"], "not found: give an image folder"),
        (["fit", "{folder}", "--recipe", "no_such_recipe"],
         "unknown recipe 'no_such_recipe'; built-in recipes: cnn_logreg"),
        (["fit", "{empty_class}", "--recipe", "cnn_logreg"], "holds no images"),
        (["fit", "{corrupt}", "--recipe", "cnn_logreg"], "corrupt or truncated image"),
        (["fit", "{tmp}/one_class", "--recipe", "cnn_logreg"], "has a single class, x; training needs 2 or more"),
        (["predict", "{tmp}/nope.joblib", "{folder}"], "model file"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, folder, tmp_path, capsys):
    empty_class = tmp_path / "empty_class"
    (empty_class / "a").mkdir(parents=True)
    (empty_class / "b").mkdir()
    Image.new("RGB", (8, 8)).save(empty_class / "a" / "x.png")
    (tmp_path / "one_class" / "x").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "one_class" / "x" / "x.png")
    corrupt = tmp_path / "corrupt"
    for cls in ("a", "b"):
        (corrupt / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(corrupt / cls / f"{i}.jpg")
    data = (corrupt / "b" / "2.jpg").read_bytes()
    (corrupt / "b" / "2.jpg").write_bytes(data[: len(data) // 2])
    out = tmp_path / ("out.csv" if args[0] == "predict" else "out.file")
    fill = {"tmp": tmp_path, "folder": folder, "empty_class": empty_class, "corrupt": corrupt}
    argv = [a.format(**fill) for a in args] + ["--out", str(out)]
    if argv[0] == "fit":
        argv += TINY
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith(f"hybridtl {argv[0]}: error:")
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_bench_on_one_class_is_one_line_exit_2(folder, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "one").symlink_to(folder / "one", target_is_directory=True)  # one class folder
    assert main(["bench", str(tmp_path / "data"), "--out", str(tmp_path / "b"), *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"hybridtl bench: error: data {str(tmp_path / 'data')!r} has a single class, "
                   "one; training needs 2 or more (one subfolder, or one label value in the CSV, per class)")
    assert not [p for p in (tmp_path / "b").rglob("*") if p.is_file()]


def test_console_script_help_on_every_verb():
    for verb in ["backbones", "download", "extract", "fit", "predict", "evaluate", "info", "bench"]:
        done = subprocess.run([sys.executable, "-m", "hybridtl.cli", verb, "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "usage: hybridtl" in done.stdout, verb
    done = subprocess.run([sys.executable, "-m", "hybridtl.cli", "backbones"], capture_output=True, text=True)
    assert done.returncode == 0 and "efficientnet_lite0" in done.stdout


def test_version_is_the_package_version(capsys):
    import hybridtl

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"hybridtl {hybridtl.__version__}"


def test_an_interrupted_save_leaves_the_earlier_model_intact(folder, tmp_path, monkeypatch):
    import zipfile

    model = tmp_path / "model.hybridtl"
    model.write_bytes(b"the earlier model")
    real_writestr = zipfile.ZipFile.writestr

    def interrupted_writestr(self, name, data, *args, **kwargs):
        real_writestr(self, name, data[: len(data) // 2] if name == "model.skops" else data, *args, **kwargs)
        if name == "model.skops":
            raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted_writestr)
    assert main(["fit", str(folder), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 130
    assert model.read_bytes() == b"the earlier model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.hybridtl"]


def test_predict_on_a_plain_folder_of_new_images(folder, tmp_path):
    model = tmp_path / "model.hybridtl"
    assert main(["fit", str(folder), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
    new = tmp_path / "new"
    new.mkdir()
    for source in sorted(folder.rglob("0.jpg")):
        (new / f"{source.parent.name}.jpg").write_bytes(source.read_bytes())
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(model), str(new), "--out", str(preds)]) == 0
    table = pd.read_csv(preds)
    assert [p.split("/")[-1] for p in table["path"]] == ["one.jpg", "two.jpg", "zero.jpg"]
    # a labelled verb still needs labels
    assert main(["evaluate", str(model), str(new)]) == 2


def test_bench_with_seeds_reports_mean_and_spread(folder, tmp_path):
    out = tmp_path / "seeds"
    assert main(["bench", str(folder), "--recipes", "pixels_logreg", "cnn_logreg", "--seeds", "3", "--out", str(out),
                 *TINY]) == 0
    every = pd.read_csv(out / "results_by_seed.csv")
    assert sorted(set(every["seed"])) == [0, 1, 2] and len(every) == 6
    summary = pd.read_csv(out / "results.csv").set_index("recipe")
    assert list(summary.index) == ["pixels_logreg", "cnn_logreg"] and (summary["n_seeds"] == 3).all()
    for recipe, group in every.groupby("recipe"):
        assert summary.loc[recipe, "accuracy_mean"] == pytest.approx(group["accuracy"].mean())
        assert summary.loc[recipe, "accuracy_std"] == pytest.approx(group["accuracy"].std())
    assert all((out / f"seed_{s}" / "results.csv").is_file() for s in range(3))


def test_bench_grid_modes(folder, tmp_path, capsys):
    from hybridtl.core import GRID_MODES

    assert build_parser().parse_args(["bench", "x", "--out", "o"]).grid == "auto"
    assert build_parser().parse_args(["bench", "x", "--out", "o", "--grid"]).grid == "all"
    assert [a for a in build_parser()._subparsers._group_actions[0].choices["bench"]._actions
            if a.dest == "grid"][0].choices == GRID_MODES
    out = tmp_path / "none"
    assert main(["bench", str(folder), "--recipes", "pixels_logreg", "--grid", "none", "--out", str(out), *TINY]) == 0
    assert pd.read_csv(out / "results.csv")["grid_best"].isna().all()
    with pytest.raises(SystemExit) as exit_:
        main(["bench", str(folder), "--grid", "some", "--out", str(out)])
    assert exit_.value.code == 2 and "invalid choice: 'some'" in capsys.readouterr().err


def test_numbers_from_a_csv_score_against_folder_names(tmp_path, capsys):
    """A model fitted on folders '3' and '7' (text labels), scored on a CSV whose label column is read as numbers."""
    X, y = load_digits_images()
    rows = []
    for label in (3, 7):
        (tmp_path / "data" / str(label)).mkdir(parents=True)
        for i, image in enumerate(X[y == label][:15]):
            Image.fromarray(image).resize((24, 24)).save(tmp_path / "data" / str(label) / f"{i}.png")
            rows.append((f"data/{label}/{i}.png", label))
    rows.append(("data/3/0.png", 9))  # a class the model never saw
    pd.DataFrame(rows, columns=["path", "label"]).to_csv(tmp_path / "scored.csv", index=False)
    model = tmp_path / "m.hybridtl"
    assert main(["fit", str(tmp_path / "data"), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"never saw.*\['9'\]"):
        assert main(["evaluate", str(model), str(tmp_path / "scored.csv"), "--out", str(tmp_path / "ev")]) == 0
    accuracy = pd.read_csv(tmp_path / "ev" / "metrics.csv")["value"][0]
    assert accuracy == pytest.approx(30 / 31)  # training images: all right but the one labelled 9
    assert set(pd.read_csv(tmp_path / "ev" / "confusion_matrix.csv", index_col=0).index) == {3, 7, 9}


def test_a_folder_named_digits_is_not_mistaken_for_the_built_in(folder, tmp_path, monkeypatch, capsys):
    (tmp_path / "digits").symlink_to(folder, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "digits", "--recipe", "pixels_logreg", "--out", "m.hybridtl", *TINY]) == 2
    assert "'./digits' for yours" in capsys.readouterr().err and not (tmp_path / "m.hybridtl").exists()
    assert main(["fit", "./digits", "--recipe", "pixels_logreg", "--out", "m.hybridtl", *TINY]) == 0
    assert "fitted pixels_logreg on 36 images" in capsys.readouterr().out


@pytest.mark.parametrize("option, value, message", [
    ("--limit-per-class", "0", "must be a positive integer, got 0"),  # was read as no limit
    ("--limit-per-class", "-3", "must be a positive integer, got -3"),  # was all but 3 per class
    ("--cv", "1", "must be an integer >= 2, got 1"),
    ("--seed", "-1", "must be an integer >= 0, got -1"),
    ("--num-workers", "-1", "must be an integer >= 0, got -1"),
    ("--epochs", "x", "invalid int value: 'x'"),
])
def test_numeric_options_are_checked_by_the_parser(option, value, message, folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["fit", str(folder), "--recipe", "pixels_logreg", "--out", str(tmp_path / "m"), option, value])
    assert stop.value.code == 2 and f"argument {option}: {message}" in capsys.readouterr().err


@pytest.mark.slow
def test_extract_and_fit_in_int8(folder, tmp_path, capsys):
    """--precision int8 calibrates on the images the verb reads; the saved model predicts as fitted."""
    npz = tmp_path / "f.npz"
    assert main(["extract", str(folder), "--out", str(npz), "--image-size", "32", "--no-progress",
                 "--precision", "int8"]) == 0
    int8 = np.load(npz)["features"]
    fp32 = CNNFeatureExtractor(image_size=32, device="cpu", cache=None).fit().transform(
        [str(p) for p in np.load(npz)["paths"]])
    cosine = (int8 * fp32).sum(1) / np.linalg.norm(int8, axis=1) / np.linalg.norm(fp32, axis=1)
    assert cosine.mean() > 0.9
    model = tmp_path / "int8.hybridtl"
    assert main(["fit", str(folder), "--recipe", "cnn_logreg", "--precision", "int8", "--out", str(model),
                 *TINY]) == 0
    from hybridtl.serialization import load

    assert load(model).named_steps["features"].calibration_["images"] == 36
    capsys.readouterr()
    assert main(["fit", str(folder), "--recipe", "auto", "--precision", "int8", "--out", str(model)]) == 2
    assert capsys.readouterr().err.strip().endswith("--precision int8 goes with the hybrid recipes; --recipe auto "
                                                    "extracts in fp32")
