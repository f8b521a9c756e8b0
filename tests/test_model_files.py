"""The safe model file: each network stored once, and a damaged or hostile file refused in one line."""

import json
import time
import zipfile

import numpy as np
import pytest
import safetensors.torch

import hybridtl
from hybridtl.cli import main
from hybridtl.heads import make_hybrid_pipeline
from hybridtl.images import load_digits_images
from hybridtl.serialization import DamagedModelFileError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted cnn_logreg pipeline on a tiny timm model, saved; its predictions on a few digits."""
    X, y = load_digits_images(n_classes=3)
    pipe = make_hybrid_pipeline("logreg", backbone="timm:test_efficientnet", weights=None, image_size=32,
                                device="cpu", cache=None).fit(X[:60], y[:60])
    path = tmp_path_factory.mktemp("model") / "model.hybridtl"
    hybridtl.save(pipe, path)
    return path, pipe, X[60:70]


def test_each_network_is_stored_once(saved):
    path, pipe, _ = saved
    with zipfile.ZipFile(path) as archive:
        tensors = safetensors.torch.load(archive.read("weights.safetensors"))
    networks = {key.split("/")[0] for key in tensors}
    model = pipe.named_steps["features"].model_
    assert len(networks) == 1 and len(tensors) == len(model.state_dict())
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert path.stat().st_size < 1.2 * weights


def test_a_saved_model_loads_and_predicts_the_same(saved):
    path, pipe, probe = saved
    np.testing.assert_allclose(hybridtl.load(path).predict_proba(probe), pipe.predict_proba(probe), atol=1e-6)


def _rewrite(source, target, entries=None, compress=None, extra=None):
    """A copy of the model file with some entries replaced, recompressed, or added."""
    with zipfile.ZipFile(source) as archive:
        content = {name: archive.read(name) for name in archive.namelist()}
    content.update(entries or {})
    content.update(extra or {})
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in content.items():
            archive.writestr(name, data, compress_type=(compress or {}).get(name, zipfile.ZIP_STORED))
    return target


def test_a_zip_bomb_is_refused_before_it_is_read(saved, tmp_path):
    path, _, _ = saved
    # 512 MiB of zeros deflate to half a megabyte: the loader must not inflate them
    bomb = _rewrite(path, tmp_path / "bomb.hybridtl", entries={"weights.safetensors": bytes(512 * 2**20)},
                    compress={"weights.safetensors": zipfile.ZIP_DEFLATED})
    assert bomb.stat().st_size < 4 * 2**20
    start = time.perf_counter()
    with pytest.raises(DamagedModelFileError, match="damaged hybridtl model file.*weights.safetensors.*uncompressed"):
        hybridtl.load(bomb)
    assert time.perf_counter() - start < 2


def _damaged_files(path, tmp_path):
    whole = path.read_bytes()
    header = json.dumps({"model-x/w": {"dtype": "F32", "shape": [10**6], "data_offsets": [0, 4 * 10**6]}}).encode()
    yield "truncated", tmp_path / "truncated.hybridtl", whole[: len(whole) - 5000]
    bad_weights = {"weights.safetensors": len(header).to_bytes(8, "little") + header}
    yield "bad safetensors", _rewrite(path, tmp_path / "st.hybridtl", entries=bad_weights), None
    yield "bad skops", _rewrite(path, tmp_path / "skops.hybridtl", entries={"model.skops": b"PK\x03\x04 no zip"}), None
    yield "extra entry", _rewrite(path, tmp_path / "extra.hybridtl", extra={"payload.py": b"print('hi')"}), None


def test_every_damaged_file_gives_the_one_damaged_error(saved, tmp_path, capsys):
    path, _, _ = saved
    for what, damaged, content in _damaged_files(path, tmp_path):
        if isinstance(content, bytes):
            damaged.write_bytes(content)
        with pytest.raises(DamagedModelFileError, match="damaged hybridtl model file") as caught:
            hybridtl.load(damaged)
        assert "\n" not in str(caught.value), what
        out = tmp_path / "p.csv"
        assert main(["predict", str(damaged), "digits", "--out", str(out), "--limit-per-class", "1"]) == 2, what
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "damaged hybridtl model file" in err, (what, err)
