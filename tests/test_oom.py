"""CUDA out-of-memory back-off, simulated on the CPU."""

import numpy as np
import pytest
import torch

from hybridtl.features import CNNFeatureExtractor
from hybridtl.finetune import FineTuneClassifier, _trainer as finetune


class _RaisesAbove(torch.nn.Module):
    """Wraps a model and raises CUDA out-of-memory for batches larger than ``limit``."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit = inner, limit

    def forward(self, x):
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_transform_halves_the_batch_and_warns_once(rgb_images):
    # the simulated CUDA error is raised by a PyTorch module: run PyTorch, extract every time
    ext = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=8, runtime="torch", cache=None).fit()
    expected = ext.transform(rgb_images)
    ext.model_ = _RaisesAbove(ext.model_, 2)
    with pytest.warns(RuntimeWarning, match="retrying with batch_size=4") as record:
        got = ext.transform(rgb_images)
    assert len([w for w in record if "out of memory" in str(w.message)]) == 1
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_transform_fails_clearly_at_batch_size_one(rgb_images):
    ext = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=4, runtime="torch", cache=None).fit()
    ext.model_ = _RaisesAbove(ext.model_, 0)
    with pytest.warns(RuntimeWarning), pytest.raises(MemoryError, match="even at batch size 1"):
        ext.transform(rgb_images)


def test_fit_and_predict_back_off(small_digits, monkeypatch):
    X, y = small_digits
    real = finetune.run_epoch
    sizes = []

    def run_epoch(model, batches, *args):
        batches = list(batches)
        sizes.append(len(batches[0][1]))
        if sizes[-1] > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, iter(batches), *args)

    monkeypatch.setattr(finetune, "run_epoch", run_epoch)
    clf = FineTuneClassifier(strategy="head", epochs=2, batch_size=32, image_size=32, device="cpu", progress=False,
                             augment=False, random_state=0, refit_full=False)
    with pytest.warns(RuntimeWarning, match="during fit: retrying with batch_size=16"):
        clf.fit(X, y)
    assert sizes == [32, 16, 8, 8] and len(clf.history_) == 2
    clf.model_ = _RaisesAbove(clf.model_, 10)
    with pytest.warns(RuntimeWarning, match="during predict"):
        assert clf.predict(X).shape == (60,)
