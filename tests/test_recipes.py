import subprocess
import sys
from pathlib import Path

import pytest

from hybridtl.recipes import list_recipes, load_recipe

ROOT = Path(__file__).resolve().parent.parent
ALL = ["cnn_logreg", "cnn_svm", "cnn_xgboost", "finetune_full", "finetune_gradual", "finetune_head",
       "finetune_two_stage", "pixels_logreg", "scratch"]


def test_every_named_recipe_builds_an_unfitted_estimator_and_a_grid():
    from sklearn.base import clone

    assert list_recipes() == ALL
    for name in ALL:
        recipe = load_recipe(name)
        estimator = recipe.build(image_size=32, device="cpu", epochs=1)
        assert clone(estimator).get_params() and recipe.grid and recipe.kind in {"hybrid", "finetune", "baseline"}
        estimator.set_params(**{k: v[0] for k, v in recipe.grid.items()})  # the grid names real parameters
    assert load_recipe("finetune_two_stage").build().strategy == "two_stage"


def test_unknown_recipe_and_bad_file(tmp_path):
    with pytest.raises(ValueError, match="unknown recipe 'nope'; built-in recipes: cnn_logreg"):
        load_recipe("nope")
    bad = tmp_path / "bad.py"
    bad.write_text("GRID = {}\n")
    with pytest.raises(ValueError, match="defines no build"):
        load_recipe(bad)


def test_recipes_ship_in_the_installed_package(tmp_path):
    """A wheel carries the recipes as hybridtl/pipelines, found by name outside the checkout."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path / "wheel")], check=True, capture_output=True)
    wheel = next((tmp_path / "wheel").glob("hybridtl-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                    str(wheel)], check=True, capture_output=True)
    code = "import hybridtl.recipes as r; print(r.recipes_dir()); print(','.join(r.list_recipes()))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"}, check=True)
    where, names = done.stdout.split()
    assert where.startswith(str(tmp_path / "site")) and names.split(",") == ALL
