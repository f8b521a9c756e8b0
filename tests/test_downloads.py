"""Pretrained weights the way users expect them: downloaded once into the standard caches, then found
offline; a bad download refused; no network a one-line error. Every server here is on 127.0.0.1."""

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from loopback_hub import LoopbackHub

from hybridtl.backbones import WeightsNotAvailableError, load_backbone
from hybridtl.cli import main

TIMM_NAME = "timm:test_efficientnet"  # timm's tiny test model
REPO = "timm/test_efficientnet.r160_in1k"  # the Hugging Face repository its pretrained config names


@pytest.fixture(scope="module")
def hub():
    import timm
    from safetensors.torch import save

    server = LoopbackHub()
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in timm.create_model("test_efficientnet").state_dict().items()}
    server.weights = save(state)
    server.add_hf(REPO, "model.safetensors", server.weights)
    yield server
    server.close()


def _env(hub, home, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("HYBRIDTL_OFFLINE", "HF_HUB_OFFLINE")}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(home / "hf"), TORCH_HOME=str(home / "torch"),
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", **extra)
    return env


LOAD = ("import json, sys; from hybridtl.backbones import load_backbone; b = load_backbone(sys.argv[1]); "
        "print(json.dumps({'source': b.weights_source, 'sha256': b.weights_sha256}))")


def _run(args, env):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=300)


def test_first_use_downloads_into_the_cache_then_offline_loads_from_it(hub, tmp_path):
    hub.mode = "ok"
    first = _run(["-c", LOAD, TIMM_NAME], _env(hub, tmp_path))
    assert first.returncode == 0, first.stderr
    got = json.loads(first.stdout.splitlines()[-1])
    assert got["sha256"] == hashlib.sha256(hub.weights).hexdigest()
    assert got["source"].startswith(str(tmp_path / "hf" / "hub" / "models--timm--test_efficientnet.r160_in1k"))
    requests = len(hub.requests)
    again = _run(["-c", LOAD, TIMM_NAME], _env(hub, tmp_path, HF_HUB_OFFLINE="1"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1]) == got and len(hub.requests) == requests  # nothing asked


def test_an_altered_download_is_refused(hub, tmp_path):
    hub.mode = "altered"
    try:
        done = _run(["-m", "hybridtl", "download", TIMM_NAME], _env(hub, tmp_path))
    finally:
        hub.mode = "ok"
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "does not match its sha256" in err[0] and TIMM_NAME in err[0], err


def test_download_then_fit_offline_with_the_cache_or_the_carried_folder(hub, tmp_path):
    hub.mode = "ok"
    carried = tmp_path / "carried"
    done = _run(["-m", "hybridtl", "download", TIMM_NAME, "--to", str(carried)], _env(hub, tmp_path))
    assert done.returncode == 0, done.stderr
    assert (carried / "timm-test_efficientnet.safetensors").read_bytes() == hub.weights
    fit = ["-m", "hybridtl", "fit", "digits", "--recipe", "cnn_logreg", "--backbone", TIMM_NAME, "--image-size", "32",
           "--limit-per-class", "6", "--no-progress"]
    offline = _env(hub, tmp_path, HF_HUB_OFFLINE="1")
    from_cache = _run(fit + ["--out", str(tmp_path / "a.hybridtl")], offline)
    assert from_cache.returncode == 0, from_cache.stderr
    elsewhere = _env(hub, tmp_path / "air-gapped", HYBRIDTL_OFFLINE="1")  # empty caches, only the folder
    from_folder = _run(fit + ["--weights", str(carried), "--out", str(tmp_path / "b.hybridtl")], elsewhere)
    assert from_folder.returncode == 0, from_folder.stderr
    without = _run(fit + ["--out", str(tmp_path / "c.hybridtl")], elsewhere)
    assert without.returncode == 2 and len(without.stderr.strip().splitlines()) == 1
    assert "were not downloaded (HYBRIDTL_OFFLINE=1)" in without.stderr and "hybridtl download" in without.stderr


@pytest.fixture
def torchvision_file(hub, monkeypatch):
    """mobilenet_v3_small's weights served from 127.0.0.1 under a torch hub name carrying their sha256 prefix."""
    import torchvision

    from hybridtl.backbones import FAMILIES

    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), buffer)
    data = buffer.getvalue()
    url = hub.add_file(f"mobilenet_v3_small-{hashlib.sha256(data).hexdigest()[:8]}.pth", data)
    monkeypatch.delenv("HYBRIDTL_OFFLINE")
    monkeypatch.setattr(FAMILIES["torchvision"], "source", lambda name, arch: url)
    return data


def test_a_torch_hub_download_is_cached_and_checked(hub, torchvision_file):
    hub.mode = "ok"
    backbone = load_backbone("torchvision:mobilenet_v3_small")
    assert backbone.weights_sha256 == hashlib.sha256(torchvision_file).hexdigest()
    assert backbone.weights_source.startswith(torch.hub.get_dir())
    requests = len(hub.requests)
    assert load_backbone("torchvision:mobilenet_v3_small").weights_sha256 == backbone.weights_sha256
    assert len(hub.requests) == requests  # the cache answered


@pytest.mark.parametrize("mode", ["altered", "truncated"])
def test_a_bad_torch_hub_download_is_refused_in_one_line(hub, torchvision_file, mode):
    hub.mode = mode
    try:
        with pytest.raises(WeightsNotAvailableError) as caught:
            load_backbone("torchvision:mobilenet_v3_small")
    finally:
        hub.mode = "ok"
    message = str(caught.value)
    assert "the download from" in message and "failed" in message and "\n" not in message
    assert not list((Path(torch.hub.get_dir()) / "checkpoints").glob("*.pth"))  # nothing half-written kept


def test_without_a_network_the_error_is_one_line(monkeypatch, capsys, tmp_path):
    def blocked(*args, **kwargs):
        raise OSError("sockets are blocked in this test")

    monkeypatch.delenv("HYBRIDTL_OFFLINE")
    monkeypatch.setattr(socket, "create_connection", blocked)
    with pytest.raises(WeightsNotAvailableError, match="no network: .* did not answer .*sockets are blocked"):
        load_backbone("torchvision:resnet18")
    assert main(["extract", "digits", "--backbone", "timm:resnet18", "--out", str(tmp_path / "f.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no network" in err[0] and "HF_HOME" in err[0], err


def test_hybridtl_offline_never_gives_random_weights():
    with pytest.raises(WeightsNotAvailableError, match="HYBRIDTL_OFFLINE=1"):
        load_backbone("timm:test_efficientnet", "imagenet")
    assert load_backbone("timm:test_efficientnet", None).weights_source == "random"  # only when asked for
