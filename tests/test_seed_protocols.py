"""The seed protocols of the docs (docs/examples/seed_protocols.py) run, from random weights on small images."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "seed_protocols.py"


def test_every_seed_protocol_fits_and_scores():
    """Each protocol trains what its name says (network, strategy, rates), and the table scores the fitted models."""
    from sklearn.model_selection import train_test_split

    from hybridtl.images import load_data

    spec = importlib.util.spec_from_file_location("seed_protocols", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = load_data("digits", 8)
    X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, test_size=0.25, stratify=data.y,
                                                        random_state=0)
    estimators = module.protocols(weights=None, image_size=64, epochs=1)
    table = module.run(estimators, X_train, y_train, X_test, y_test).set_index("protocol")
    assert list(table.index) == list(estimators)
    for name, estimator in estimators.items():
        assert table.loc[name, "test_accuracy"] == pytest.approx(estimator.score(X_test, y_test))
    first = {name: e.history_.iloc[0] for name, e in estimators.items() if hasattr(e, "history_")}
    kinds = {name: type(e.model_).__name__ for name, e in estimators.items() if hasattr(e, "model_")}
    assert kinds == {"vgg11 gradual, Adamax": "VGG", "vgg16 head first, then all at lr/10": "VGG",
                     "resnet18 new layer at 10x": "ResNet", "resnet18 from scratch": "ResNet",
                     "alexnet fine-tuned": "AlexNet"}

    def share(name):
        return first[name]["n_trainable_params"] / sum(p.numel() for p in estimators[name].model_.parameters())

    # gradual and two stages: epoch 1 trains the new layer alone; full and scratch: every layer
    assert share("vgg11 gradual, Adamax") < 0.01 and share("vgg16 head first, then all at lr/10") < 0.01
    assert share("resnet18 new layer at 10x") == 1.0 and share("resnet18 from scratch") == 1.0
    assert first["resnet18 new layer at 10x"]["lr"] == pytest.approx(10 * first["resnet18 new layer at 10x"]
                                                                     ["backbone_lr"])
    assert first["resnet18 from scratch"]["lr"] == pytest.approx(first["resnet18 from scratch"]["backbone_lr"])
    xgboost = estimators["alexnet features + xgboost"]
    assert type(xgboost[-1]).__name__ == "LabelXGBClassifier" and xgboost[0].n_features_out_ == 256
    assert estimators["vgg11 gradual, Adamax"].get_params()["optimizer"] == "adamax"
