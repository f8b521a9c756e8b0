"""ONNX export: every kind of model, run where torch, scikit-learn, xgboost, timm and hybridtl cannot be imported,
agreeing with ``hybridtl predict`` on photos of their own sizes (within 1e-4 at the model's own input size);
the preprocessing graph against torchvision's;
refusals that write nothing; the guide's examples (the 10-line runner, the HTTP service under 200 requests)."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import skimage.data
import torch
from PIL import Image
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

import hybridtl
from hybridtl.auto import AutoClassifier
from hybridtl.auto._ensemble import soft_vote
from hybridtl.cli import main
from hybridtl.export import ExportError, export_onnx, gray_pixels_graph, preprocessing_graph
from hybridtl.export._kinds import preprocessings
from hybridtl.finetune import FineTuneClassifier
from hybridtl.images import Preprocess
from hybridtl.recipes import load_recipe

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
PHOTOS = {"cat": skimage.data.chelsea, "coffee": skimage.data.coffee, "astronaut": skimage.data.astronaut}
# Run in the child before anything else: importing any of these fails there, as on a machine without them.
BLOCK = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "torchvision", "sklearn", "xgboost", "timm", "hybridtl", "skl2onnx",
                                  "onnxmltools"}:
            raise ImportError(f"{name} is blocked in this process")
sys.meta_path.insert(0, Block())
"""


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _training_set(n_per_class=10, side=72, seed=0):
    """Crops of three real photos, uint8 (n, side, side, 3), and their labels."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for label, load in PHOTOS.items():
        photo = load()
        h, w = photo.shape[:2]
        for _ in range(n_per_class):
            top, left = rng.integers(0, h - side), rng.integers(0, w - side)
            X.append(photo[top : top + side, left : left + side])
            y.append(label)
    return np.stack(X), np.array(y)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """Real photos at their own sizes as users have them: JPEG crops of many sizes, a whole JPEG turned by EXIF,
    PNG, gray, palette, RGBA and 16-bit files."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    sizes = [(97, 131), (150, 200), (240, 180), (333, 250), (128, 128), (300, 400)]
    for name, load in PHOTOS.items():
        photo = load()
        for i, (h, w) in enumerate(sizes):
            h, w = min(h, photo.shape[0]), min(w, photo.shape[1])
            top, left = rng.integers(0, photo.shape[0] - h + 1), rng.integers(0, photo.shape[1] - w + 1)
            crop = Image.fromarray(photo[top : top + h, left : left + w])
            crop.save(root / f"{name}_{i}.jpg", quality=92)
        Image.fromarray(photo).save(root / f"{name}_whole.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the pixels are stored sideways
    Image.fromarray(skimage.data.chelsea()).transpose(Image.Transpose.ROTATE_90).save(
        root / "cat_rotated.jpg", exif=exif, quality=92)
    palette = Image.fromarray(skimage.data.coffee()).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(root / "coffee_palette.png")
    Image.fromarray(skimage.data.astronaut()).convert("L").save(root / "astronaut_gray.jpg", quality=92)
    rgba = np.dstack([skimage.data.chelsea()[:200, :260], np.full((200, 260), 255, np.uint8)])
    Image.fromarray(rgba).save(root / "cat_rgba.png")
    deep = (skimage.data.coffee()[:300, :360].mean(2) * 257).astype(np.uint16)  # a 16-bit gray PNG
    Image.fromarray(deep).save(root / "coffee_16bit.png")
    for name, (h, w) in zip(PHOTOS, OWN_SIZES):  # lossless, at the 32-px models' own size: nothing is resized
        Image.fromarray(skimage.data.coffee()[100 : 100 + h, 200 : 200 + w] if name == "coffee"
                        else PHOTOS[name]()[:h, :w]).save(root / f"{name}_own_size.png")
    return root


# shorter side round(32 / 0.875) = 37: the size the 32-px models' preprocessing resizes to
OWN_SIZES = [(37, 50), (52, 37), (37, 37)]


def _finetuned(strategy, X, y, **params):
    settings = dict(strategy=strategy, epochs=1, image_size=32, device="cpu", batch_size=16, random_state=0)
    return FineTuneClassifier(**{**settings, **params}).fit(X, y)


def _hybrid(name, X, y):
    return load_recipe(name).build(image_size=32, device="cpu", cache=None).fit(X, y)


@pytest.fixture(scope="module")
def models():
    """One fitted model of every kind hybridtl makes (small: 30 real photo crops, 1 epoch, 32 px)."""
    X, y = _training_set()
    made = {name: _hybrid(name, X, y) for name in ("cnn_logreg", "cnn_svm", "cnn_xgboost", "pixels_logreg")}
    for strategy in ("head", "full", "gradual", "two_stage", "scratch"):
        made[f"finetune_{strategy}"] = _finetuned(strategy, X, y)
    made["finetune_tta_exact"] = _finetuned("full", X, y, tta=True, decode="exact")
    made["resnet18_bilinear"] = _finetuned("full", X, y, backbone="torchvision:resnet18", weights=None)
    made["ensemble"] = soft_vote([("full", made["finetune_full"]), ("svm", made["cnn_svm"])], X, y)
    # members of two input sizes, as an auto search may pair the pixel baseline with a CNN
    made["ensemble_sizes"] = soft_vote([("full", made["finetune_full"]), ("pixels", made["pixels_logreg"])], X, y)
    made["auto"] = AutoClassifier(time_budget=120, recipes=["pixels_logreg", "cnn_logreg"], image_size=32,
                                  device="cpu", progress=False, random_state=0).fit(X, y)
    return made


@pytest.fixture(scope="module")
def exported(models, tmp_path_factory):
    """Each model saved as a .hybridtl file and exported from it with the command line."""
    root = tmp_path_factory.mktemp("exported")
    for name, model in models.items():
        hybridtl.save(model, root / f"{name}.hybridtl")
        assert main(["export", str(root / f"{name}.hybridtl"), str(root / f"{name}.onnx")]) == 0
    return root


def _isolated_runs(onnx_files, photos):
    """The guide's runner (docs/examples/run_onnx.py) on ``photos`` for each file, in a process where importing
    torch, scikit-learn, xgboost, timm or hybridtl fails: {model name: {photo name: probabilities}}."""
    code = BLOCK + (
        "import runpy\n"
        "photos, models = sys.argv[1].split(';'), sys.argv[2:]\n"
        "for path in models:\n"
        "    sys.argv = ['run_onnx.py', path] + photos\n"
        "    print('MODEL', path)\n"
        f"    runpy.run_path({str(EXAMPLES / 'run_onnx.py')!r}, run_name='__main__')\n"
    )
    args = [sys.executable, "-c", code, ";".join(map(str, photos))] + [str(f) for f in onnx_files]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr[-3000:]
    runs, current = {}, None
    for line in out.stdout.splitlines():
        if line.startswith("MODEL "):
            current = runs.setdefault(Path(line[6:]).stem, {})
        else:
            row = json.loads(line)
            current[Path(row["path"]).name] = (row["label"], np.array(row["probabilities"]))
    return runs


def test_blocked_imports_really_fail_in_the_isolated_process():
    code = BLOCK + "import onnxruntime, numpy, PIL\nfor m in ('torch', 'sklearn', 'xgboost', 'timm', 'hybridtl'):\n" \
                   "    try:\n        __import__(m)\n    except ImportError:\n        print('blocked', m)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:-1] == [f"blocked {m}" for m in ("torch", "sklearn", "xgboost", "timm", "hybridtl")]


# An ensemble whose members take different input sizes: hybridtl predict decodes each file once per member, at
# the size that member needs; the graph gets one decode (at the largest). Compared on decoded pixels instead.
MIXED_SIZES = "ensemble_sizes"


def test_every_kind_of_model_agrees_with_hybridtl_predict_without_torch_or_sklearn(models, exported, photo_folder,
                                                                                    tmp_path):
    photos = sorted(photo_folder.iterdir())
    runs = _isolated_runs([exported / f"{name}.onnx" for name in models], photos)
    assert set(runs) == set(models)
    for name, model in models.items():
        if name == MIXED_SIZES:
            continue
        out = tmp_path / f"{name}.csv"
        assert main(["predict", str(exported / f"{name}.hybridtl"), str(photo_folder), "--out", str(out),
                     "--no-progress"]) == 0
        table = pd.read_csv(out)
        classes = [str(c) for c in model.classes_]
        expected = table[[f"proba_{c}" for c in classes]].to_numpy()
        got = np.stack([runs[name][Path(p).name][1] for p in table["path"]])
        same_label = np.mean([runs[name][Path(p).name][0] == str(label)
                              for p, label in zip(table["path"], table["predicted"])])
        assert len(table) == len(photos)
        assert same_label >= 0.98, (name, same_label)
        worst = np.abs(got - expected).max(1)
        assert worst.max() <= 0.02, (name, worst.max(), table["path"][worst.argmax()])
        own = table["path"].str.endswith("_own_size.png").to_numpy()
        if {p.resize_side for p in preprocessings(model)} == {37}:
            assert own.sum() == 3 and worst[own].max() <= 1e-4, (name, worst[own])
    _mixed_sizes_agree_on_decoded_pixels(models[MIXED_SIZES], runs[MIXED_SIZES], photos, exported)


def _mixed_sizes_agree_on_decoded_pixels(model, run, photos, exported):
    import runpy

    read = runpy.run_path(str(EXAMPLES / "run_onnx.py"))["read"]
    side = int(_session(exported / f"{MIXED_SIZES}.onnx").get_modelmeta().custom_metadata_map["decode_side"])
    expected = np.stack([model.predict_proba(read(photo, side)[None])[0] for photo in photos])
    got = np.stack([run[photo.name][1] for photo in photos])
    assert np.mean(expected.argmax(1) == got.argmax(1)) >= 0.98
    assert np.abs(got - expected).max() <= 0.02


def test_the_ten_line_example_runs_without_torch_or_sklearn(models, exported, photo_folder):
    photo = photo_folder / "cat_rotated.jpg"
    code = BLOCK + "import runpy\nsys.argv = sys.argv[1:]\nrunpy.run_path(sys.argv[0], run_name='__main__')"
    args = [sys.executable, "-c", code, str(EXAMPLES / "predict_one.py"), str(exported / "finetune_full.onnx"),
            str(photo)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    label, probabilities = out.stdout.split(" ", 1)
    model = models["finetune_full"]
    # it decodes every pixel: the model's own answer on those pixels (printed to 3 decimals) ...
    from PIL import ImageOps

    pixels = np.array(ImageOps.exif_transpose(Image.open(photo)).convert("RGB"))
    assert np.abs(np.array(json.loads(probabilities)) - model.predict_proba(pixels[None])[0]).max() <= 5e-4
    # ... and the class hybridtl predict gives the file (decoded small: probabilities a few hundredths apart)
    assert label == str(model.predict([str(photo)])[0])


def test_at_the_models_own_size_the_graph_gives_predict_proba_within_1e_4(models, exported):
    rng = np.random.default_rng(3)
    for name, model in models.items():
        sides = {p.resize_side for p in preprocessings(model)}
        if len(sides) > 1:
            continue  # an ensemble of two input sizes: no image is at both members' own size
        side = sides.pop()
        photo = skimage.data.astronaut()
        for h, w in ((side, side + 30), (side + 17, side)):
            top, left = rng.integers(0, 512 - h), rng.integers(0, 512 - w)
            image = np.ascontiguousarray(photo[top : top + h, left : left + w])
            probs = _session(exported / f"{name}.onnx").run(["probabilities"], {"pixels": image[None]})[0]
            assert np.abs(probs - model.predict_proba(image[None])).max() <= 1e-4, name


def test_openvino_reads_every_export_but_those_with_an_svm_or_xgboost_head(models, exported):
    import openvino as ov

    X, _ = _training_set(n_per_class=2, seed=7)
    core = ov.Core()
    for name in models:
        path = exported / f"{name}.onnx"
        ml = {node.op_type for node in onnx.load(str(path)).graph.node if node.domain == "ai.onnx.ml"}
        if name in ("cnn_svm", "cnn_xgboost", "ensemble"):  # SVMClassifier, TreeEnsembleClassifier (converters')
            assert ml, name
            continue
        assert not ml, (name, ml)  # linear heads in standard operators, which OpenVINO's ONNX reader converts
        compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        # photos of another size: as ONNX Runtime within the 0.02, the same labels (measured: 2.3e-4)
        in_openvino = compiled({"pixels": X})["probabilities"]
        np.testing.assert_allclose(in_openvino, _session(path).run(["probabilities"], {"pixels": X})[0], atol=0.02,
                                   err_msg=name)
        np.testing.assert_array_equal(in_openvino.argmax(1), models[name].predict_proba(X).argmax(1))
        sides = {p.resize_side for p in preprocessings(models[name])}
        if len(sides) == 1:  # at the model's own size: predict_proba within 1e-4
            side = sides.pop()
            own = np.ascontiguousarray(skimage.data.astronaut()[100 : 100 + side, 150 : 150 + side + 30])[None]
            np.testing.assert_allclose(compiled({"pixels": own})["probabilities"], models[name].predict_proba(own),
                                       atol=1e-4, err_msg=name)


@pytest.mark.parametrize("case", ["binary", "multinomial", "scaled", "unscaled", "zero_rows"])
def test_linear_heads_in_standard_operators_give_predict_proba(case):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import Normalizer, StandardScaler

    from hybridtl.export._heads import linear_head_graph
    from hybridtl.heads import Float64Normalizer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)).astype(np.float32) + 0.5
    y = np.arange(60) % (2 if case == "binary" else 3)
    first = {"scaled": StandardScaler(), "unscaled": StandardScaler(with_mean=False, with_std=False),
             "zero_rows": Normalizer()}.get(case, Float64Normalizer())
    head = LogisticRegression()
    if case == "zero_rows":
        X[:3] = 0
    steps = [("scale", first.fit(X)), ("head", head.fit(first.transform(X), y))]
    graph = linear_head_graph(steps, 5)
    assert {node.domain for node in graph.graph.node} == {""}  # standard operators only
    got = ort.InferenceSession(graph.SerializeToString()).run(None, {"features": X})[0]
    np.testing.assert_allclose(got, head.predict_proba(first.transform(X)), atol=1e-5)
    assert linear_head_graph([("scale", first), ("head", SVC().fit(X, y))], 5) is None  # for skl2onnx


def test_batches_of_one_size_give_what_single_images_give(models, exported):
    X, _ = _training_set(n_per_class=3, seed=5)
    session = _session(exported / "finetune_full.onnx")
    batch = session.run(None, {"pixels": X})
    singles = [session.run(None, {"pixels": x[None]}) for x in X]
    np.testing.assert_allclose(batch[0], np.concatenate([s[0] for s in singles]), atol=1e-5)
    np.testing.assert_array_equal(batch[1], np.concatenate([s[1] for s in singles]))
    assert batch[0].dtype == np.float32 and batch[1].dtype == np.int64


def test_metadata_names_the_classes_and_holds_the_model_card(models, exported):
    meta = _session(exported / "auto.onnx").get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == ["astronaut", "cat", "coffee"]
    card = json.loads(meta["model_card"])
    assert card["auto"]["best"] == models["auto"].best_ and card["backbones"]
    assert card["backbones"][0]["weights_sha256"] == models["cnn_logreg"].steps[0][1].weights_sha256_
    check = json.loads(meta["export_check"])
    assert check["own_size_largest_difference"] <= 1e-4 and check["largest_difference"] <= 0.02
    assert meta["hybridtl_version"] == hybridtl.__version__
    assert meta["decode_side"] == str(models["finetune_full"].preprocess_.resize_side)
    exact = _session(exported / "finetune_tta_exact.onnx").get_modelmeta().custom_metadata_map
    assert exact["decode_side"] == "0"


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("decode", ["fast", "exact"])
def test_the_preprocessing_graph_is_torchvisions_resize_crop_and_normalize(interpolation, decode):
    p = Preprocess(64, 0.875, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), interpolation, decode)
    session = ort.InferenceSession(preprocessing_graph(p).SerializeToString())
    photo = skimage.data.astronaut()
    for h, w in ((73, 90), (90, 73), (512, 512), (301, 417), (40, 50), (73, 73), (3000, 4000)):
        image = np.array(Image.fromarray(photo).resize((w, h), Image.BICUBIC))
        pixels = torch.from_numpy(image).permute(2, 0, 1).contiguous()
        expected = p.normalize(p.resize_crop(p.working(pixels))[None]).numpy()
        got = session.run(None, {"pixels": image[None]})[0]
        assert got.shape == (1, 3, 64, 64)
        level = 1 / 255 / 0.224
        off = np.abs(got - expected)
        if decode == "exact":
            assert off.max() <= 0.01 * level
        elif min(h, w) <= 2 * p.resize_side:  # torch's integer arithmetic reproduced: the same pixels
            assert off.max() <= 1e-6
        else:  # reduced more than 2x: float32 sums beyond 2^24, a rare pixel one level off
            assert off.max() <= level + 1e-6 and (off > level / 2).mean() < 1e-3


def test_the_pixel_baselines_graph_is_pixelfeatures():
    from hybridtl.features import PixelFeatures

    photo = skimage.data.coffee()
    step = PixelFeatures(image_size=16).fit()
    session = ort.InferenceSession(gray_pixels_graph(Preprocess(16, 1.0, (0.0,) * 3, (1.0,) * 3, "bilinear",
                                                                "fast")).SerializeToString())
    for h, w in ((400, 600), (17, 40), (16, 16)):
        image = np.ascontiguousarray(photo[:h, :w])
        assert np.abs(session.run(None, {"pixels": image[None]})[0] - step.transform(image[None])).max() <= 1e-6


class _NoConverter(ClassifierMixin, BaseEstimator):
    """A user's own head: skl2onnx has no converter for it."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))


def test_a_head_without_converter_is_refused_in_one_line_and_nothing_is_written(models, tmp_path):
    X, y = _training_set(n_per_class=4)
    extractor = models["cnn_logreg"].steps[0][1]
    model = Pipeline([("features", extractor), ("head", _NoConverter())]).fit(X, y)
    target = tmp_path / "model.onnx"
    target.write_bytes(b"an earlier export")
    with pytest.raises(ExportError, match="skl2onnx cannot convert the head \\(_NoConverter\\)"):
        export_onnx(model, target)
    assert target.read_bytes() == b"an earlier export" and os.listdir(tmp_path) == ["model.onnx"]


def test_a_forward_pass_changed_by_a_callback_is_refused_naming_the_difference(models, tmp_path, capsys):
    X, y = _training_set(n_per_class=4)
    model = _finetuned("full", X, y)
    # what a user's callback might leave behind: a hook whose effect depends on the batch in Python,
    # which tracing records as a constant
    model.model_.register_forward_hook(lambda module, inputs, out: out * (1 + 4 * float(inputs[0].abs().mean())))
    with pytest.raises(ExportError, match="disagrees with its predict_proba: largest difference of a probability"):
        export_onnx(model, tmp_path / "hooked.onnx")
    assert not (tmp_path / "hooked.onnx").exists()


def test_the_command_line_refuses_what_it_cannot_export_with_exit_2(models, tmp_path, capsys):
    X, y = _training_set(n_per_class=4)
    import joblib

    joblib.dump(Pipeline([("features", models["cnn_logreg"].steps[0][1]), ("head", _NoConverter())]).fit(X, y),
                tmp_path / "custom.joblib")
    assert main(["export", str(tmp_path / "custom.joblib"), str(tmp_path / "out.onnx"), "--trust-pickle"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "hybridtl export: error: skl2onnx cannot convert the head" in err
    assert main(["export", str(tmp_path / "custom.joblib"), str(tmp_path / "out.txt"), "--trust-pickle"]) == 2
    assert "hybridtl export: error: OUT must end in .onnx" in capsys.readouterr().err
    assert not (tmp_path / "out.onnx").exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_http_example_answers_200_concurrent_requests_as_in_process_prediction(models, exported, tmp_path):
    X, _ = _training_set(n_per_class=10, side=64, seed=7)
    files = []
    for i, x in enumerate(X):  # PNG: the bytes decode to exactly these pixels
        Image.fromarray(x if i % 2 else x[:, :50]).save(tmp_path / f"{i}.png")
        files.append((tmp_path / f"{i}.png").read_bytes())
    port = _free_port()
    env = {**os.environ, "MODEL": str(exported / "cnn_logreg.onnx"), "PYTHONPATH": str(EXAMPLES)}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "serve_onnx:app", "--port", str(port),
                               "--log-level", "warning"], env=env, cwd=tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/predict"

        def ask(i):
            request = urllib.request.Request(url, data=files[i % len(files)], method="POST")
            with urllib.request.urlopen(request, timeout=60) as answer:
                return i, json.loads(answer.read())

        for _ in range(300):  # until it listens
            try:
                ask(0)
                break
            except OSError:
                time.sleep(0.1)
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = dict(pool.map(ask, range(200)))
    finally:
        server.terminate()
        server.wait(30)
    model = models["cnn_logreg"]
    images = [x if i % 2 else np.ascontiguousarray(x[:, :50]) for i, x in enumerate(X)]
    expected = [model.predict_proba(image[None])[0] for image in images]
    labels = [model.predict(image[None])[0] for image in images]
    assert len(answers) == 200
    for i, answer in answers.items():
        assert answer["label"] == labels[i % len(files)]
        assert np.abs(np.array(answer["probabilities"]) - expected[i % len(files)]).max() <= 1e-4


@pytest.mark.parametrize("backbone, size", [("timm:convnext_atto", 32), ("timm:mobilenetv3_small_100", 32),
                                            ("torchvision:mobilenet_v3_small", 32),
                                            ("timm:vit_tiny_patch16_224", 224)])
def test_networks_of_other_families_export_and_pass_the_check(backbone, size, tmp_path):
    """Convolutional and attention networks from both registries (random weights: the graph is what counts)."""
    X, y = _training_set(n_per_class=4)
    model = _finetuned("full", X, y, backbone=backbone, weights=None, image_size=size, validation_fraction=None)
    check = export_onnx(model, tmp_path / "model.onnx")
    assert check["own_size_largest_difference"] <= 1e-4 and check["largest_difference"] <= 0.02
    probs = _session(tmp_path / "model.onnx").run(["probabilities"], {"pixels": X[:2]})[0]
    np.testing.assert_allclose(probs, model.predict_proba(X[:2]), atol=1e-4)


@pytest.mark.filterwarnings("ignore:precision='int8'")  # 12 calibration images warn of a loss; not tested here
@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_a_bf16_or_int8_extractor_exports_its_fp32_network_and_says_so(precision, tmp_path):
    X, y = _training_set(n_per_class=4)
    model = load_recipe("cnn_logreg").build(image_size=32, device="auto", cache=None, precision=precision,
                                            runtime="openvino").fit(X, y)
    check = export_onnx(model, tmp_path / "model.onnx")
    assert check["computed_in"] == [precision] and check["network_precision"] == "fp32"
    # switched to fp32 on the CPU for the check only
    assert model.steps[0][1].precision == precision and model.steps[0][1].device == "auto"
    meta = _session(tmp_path / "model.onnx").get_modelmeta().custom_metadata_map
    assert json.loads(meta["export_check"])["computed_in"] == [precision]


@pytest.mark.filterwarnings("ignore:hybridtl.pixels is deprecated")  # the old file names the module it moved from
@pytest.mark.parametrize("name", ["finetune_v0", "pixels_logreg_v0"])
def test_model_files_of_earlier_versions_export(name, tmp_path, capsys):
    """Files written before decode and the model card existed: exported as they predict (every pixel decoded)."""
    source = Path(__file__).parent / "data" / f"{name}.hybridtl"
    assert main(["export", str(source), str(tmp_path / "old.onnx")]) == 0
    meta = _session(tmp_path / "old.onnx").get_modelmeta().custom_metadata_map
    assert meta["decode_side"] == "0" and json.loads(meta["classes"]) == ["0", "1", "2"]
    assert json.loads(meta["model_card"])["model"].startswith(("hybridtl.finetune", "sklearn.pipeline"))


def test_a_grid_search_exports_its_refitted_best_estimator(tmp_path):
    from sklearn.model_selection import GridSearchCV

    X, y = _training_set(n_per_class=6)
    recipe = load_recipe("pixels_logreg")
    search = GridSearchCV(recipe.build(), recipe.grid, cv=2).fit(X, y)
    export_onnx(search, tmp_path / "search.onnx")
    probs = _session(tmp_path / "search.onnx").run(["probabilities"], {"pixels": X})[0]
    np.testing.assert_allclose(probs, search.predict_proba(X), atol=1e-5)


def test_without_the_converters_the_command_line_names_the_extra(models, exported, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "skl2onnx" else real(name, *a))
    assert main(["export", str(exported / "cnn_logreg.hybridtl"), str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err == ("hybridtl export: error: exporting to ONNX needs skl2onnx: "
                                       "pip install 'hybridtl[onnx]'\n")
    assert not (tmp_path / "m.onnx").exists()
