"""Shared, small, real test data. Nothing here downloads anything."""

import numpy as np
import pytest
import torch

from hybridtl.images import load_digits_images

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def digits():
    """All 1,797 real handwritten digits, uint8 (n, 8, 8), and their labels."""
    return load_digits_images()


@pytest.fixture(scope="session")
def small_digits(digits):
    """60 digits of 3 classes (0, 1, 2), 20 of each."""
    X, y = digits
    idx = np.concatenate([np.flatnonzero(y == c)[:20] for c in (0, 1, 2)])
    return X[idx], y[idx]


@pytest.fixture
def rgb_images():
    """Five random RGB uint8 images of 40x48 pixels."""
    return np.random.default_rng(0).integers(0, 256, size=(5, 40, 48, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def empty_weight_caches(tmp_path_factory, monkeypatch):
    """Point the torch hub and Hugging Face caches at empty folders, as on a fresh offline machine.

    Downloads are switched off too (HYBRIDTL_OFFLINE=1): no test reaches outside this machine; the
    download tests serve their files from 127.0.0.1 and switch them back on.
    """
    import huggingface_hub.constants

    monkeypatch.setenv("HYBRIDTL_OFFLINE", "1")
    root = tmp_path_factory.mktemp("caches")
    monkeypatch.setattr(torch.hub, "_hub_dir", str(root / "torch-hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(root / "hf-hub"))
    return root


@pytest.fixture(autouse=True)
def fresh_feature_memo():
    """Each test starts with an empty in-process feature memo (cache="auto"), as a new process would."""
    from hybridtl import features as cache

    cache.clear_memory()
    yield
    cache.clear_memory()

# tests/data holds model files and the scripts that wrote them with an earlier layout: not tests
collect_ignore = ["data"]
