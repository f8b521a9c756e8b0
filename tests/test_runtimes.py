"""CPU inference runtimes: the same features as PyTorch, built once, portable pickles, clear fallbacks."""

import collections
import importlib.util
import pickle
import subprocess
import sys
import textwrap
import warnings

import joblib
import numpy as np
import pytest
import torch

import hybridtl.devices._runtimes as runtimes
from hybridtl.features import (
    CNNFeatureExtractor,
    RuntimeFallbackWarning,
    compiled_runner,
    installed_runtimes,
    resolve_runtime,
)

INSTALLED = installed_runtimes()
CASES = [
    {},  # the embedded default, real ImageNet weights
    {"backbone": "timm:resnet18", "weights": None},
    {"backbone": "torchvision:mobilenet_v3_small", "weights": None},
    {"layer": "blocks.3"},
    {"pooling": "max"},
    {"pooling": "gem"},
    {"pooling": "avgmax"},
]


def test_openvino_and_onnxruntime_are_installed_by_make_install():
    assert INSTALLED == ["openvino", "onnxruntime"]


@pytest.mark.parametrize("runtime", ["openvino", "onnxruntime"])
@pytest.mark.parametrize("params", CASES, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_same_features_as_pytorch(runtime, params, rgb_images):
    def features(rt):
        ext = CNNFeatureExtractor(image_size=64, device="cpu", cache=None, runtime=rt, **params).fit()
        return ext.transform(rgb_images)

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeFallbackWarning)  # a silent fallback would compare torch with torch
        got = features(runtime)
    np.testing.assert_allclose(got, features("torch"), atol=1e-4, rtol=0)


def test_auto_is_the_fastest_installed_on_cpu_and_torch_on_cuda():
    assert resolve_runtime("auto", torch.device("cpu")) == INSTALLED[0]
    assert resolve_runtime("auto", torch.device("cuda")) == "torch"
    assert resolve_runtime("openvino", torch.device("cuda")) == "torch"
    with pytest.raises(ValueError, match='"runtime" must be one of'):
        CNNFeatureExtractor(runtime="tensorrt").fit()


def test_the_compiled_model_is_built_once_per_process(rgb_images, monkeypatch):
    monkeypatch.setattr(runtimes, "_BY_IDENTITY", collections.OrderedDict())  # nothing from earlier tests
    built = []
    real = runtimes._BUILDERS["onnxruntime"]
    monkeypatch.setitem(runtimes._BUILDERS, "onnxruntime", lambda m, s, p, c: built.append(s) or real(m, s, p, c))
    ext = CNNFeatureExtractor(image_size=48, device="cpu", cache=None, runtime="onnxruntime").fit()
    ext.transform(rgb_images)
    ext.transform(rgb_images[:2])
    CNNFeatureExtractor(image_size=48, device="cpu", cache=None, runtime="onnxruntime").fit().transform(rgb_images)
    assert built == [48]


def test_an_export_failure_falls_back_to_pytorch_with_one_warning(rgb_images, monkeypatch):
    def broken(model, size, precision, calibration):
        raise RuntimeError("cannot export this graph")

    monkeypatch.setitem(runtimes._BUILDERS, "openvino", broken)
    monkeypatch.setattr(runtimes, "_BY_IDENTITY", collections.OrderedDict())
    ext = CNNFeatureExtractor(image_size=40, device="cpu", cache=None, runtime="openvino").fit()
    with pytest.warns(RuntimeFallbackWarning, match="could not run this model in openvino.*cannot export"):
        got = ext.transform(rgb_images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ext.transform(rgb_images)  # no second warning, no second try
    expected = CNNFeatureExtractor(image_size=40, device="cpu", cache=None, runtime="torch").fit().transform(rgb_images)
    np.testing.assert_array_equal(got, expected)


def test_unpickled_copies_of_one_extractor_share_the_compiled_runner(rgb_images, monkeypatch):
    """A dask worker unpickles the extractor at every call: the copies must not compile again."""
    monkeypatch.setattr(runtimes, "_BY_IDENTITY", collections.OrderedDict())
    built = []
    real = runtimes._BUILDERS["onnxruntime"]
    monkeypatch.setitem(runtimes._BUILDERS, "onnxruntime", lambda m, s, p, c: built.append(s) or real(m, s, p, c))
    ext = CNNFeatureExtractor(image_size=44, device="cpu", cache=None, runtime="onnxruntime").fit()
    expected = ext.transform(rgb_images)
    copies = [pickle.loads(pickle.dumps(ext)) for _ in range(2)]
    assert copies[0].model_ is not copies[1].model_ is not ext.model_
    for copy in copies:
        np.testing.assert_allclose(copy.transform(rgb_images), expected, atol=1e-5)
    assert built == [44]
    other = CNNFeatureExtractor(image_size=44, device="cpu", cache=None, runtime="onnxruntime", pooling="max").fit()
    assert not np.allclose(other.transform(rgb_images), expected)  # another pooling: its own runner
    assert built == [44, 44]


def test_a_pickle_runs_where_the_runtime_is_missing(rgb_images, tmp_path, monkeypatch):
    ext = CNNFeatureExtractor(image_size=32, device="cpu", cache=None, runtime="openvino").fit()
    expected = ext.transform(rgb_images)
    joblib.dump(ext, tmp_path / "ext.joblib")
    assert compiled_runner(ext.model_, "openvino", 32) is not None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("openvino", "onnxruntime") else real(name, *a))
    loaded = joblib.load(tmp_path / "ext.joblib")
    with pytest.warns(RuntimeFallbackWarning, match="not installed here"):
        got = loaded.transform(rgb_images)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_backbones_verb_names_the_runtime(capsys):
    from hybridtl.cli import main

    assert main(["backbones"]) == 0
    assert f"CPU inference runtime (runtime='auto'): {INSTALLED[0]}" in capsys.readouterr().out


def test_openvino_conversion_sends_no_telemetry(tmp_path):
    """Its telemetry forks a process, which hung a threaded dask client here: hybridtl converts with OpenVINO's stub."""
    pytest.importorskip("openvino_telemetry")
    script = tmp_path / "convert.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, torch, openvino_telemetry
        sent = []
        openvino_telemetry.Telemetry.send_event = lambda self, *args, **kwargs: sent.append(args)
        openvino_telemetry.Telemetry.start_session = lambda self, *args, **kwargs: sent.append(args)
        import hybridtl.devices._runtimes as runtimes
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        run = runtimes._openvino_runner(model.eval(), 16)
        assert run(np.zeros((2, 3, 16, 16), np.float32)).shape == (2, 4)
        assert sent == [], sent
        import openvino.tools.ovc.convert_impl as convert_impl
        assert convert_impl.tm.__name__ == "openvino.tools.ovc.telemetry_stub"
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
