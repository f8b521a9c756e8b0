"""The seed protocols of the docs (docs/examples/seed_protocols.py) run, from random weights on small images."""

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "seed_protocols.py"


def test_every_seed_protocol_fits_and_scores():
    spec = importlib.util.spec_from_file_location("seed_protocols", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.main(["digits", "--weights", "none", "--image-size", "64", "--epochs", "1",
                         "--limit-per-class", "8"])
    assert len(table) == 6 and table["test_accuracy"].between(0, 1).all()
    estimators = module.protocols(weights=None)
    assert estimators["vgg11 gradual, Adamax"].get_params()["optimizer"] == "adamax"
    assert estimators["resnet18 from scratch"].get_params()["strategy"] == "scratch"
