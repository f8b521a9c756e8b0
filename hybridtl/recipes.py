"""Named recipes: small files in ``pipelines/`` that build a ready estimator and a parameter grid.

A recipe file defines ``build(**settings)`` returning an unfitted estimator,
``GRID`` (a ``GridSearchCV`` parameter grid) and ``KIND`` ("hybrid",
"finetune" or "baseline"); its docstring's first line describes it. Recipes
are found by name in the ``pipelines`` folder (of a source checkout or of the
installed package) or loaded from any ``.py`` file a user points to.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Recipe", "finetune_builder", "hybrid_builder", "list_recipes", "load_recipe", "recipes_dir"]

SETTINGS = ("image_size", "device", "epochs", "batch_size", "augment", "random_state", "progress", "cache", "backbone",
            "weights", "precision", "decode")


@dataclass(frozen=True)
class Recipe:
    """A named recipe, as :func:`load_recipe` reads it from its file.

    Parameters
    ----------
    name : str
    kind : {"hybrid", "finetune", "baseline", "custom"}
    description : str
        The first line of the file's docstring.
    build : callable
        ``build(**settings)`` returns a new, unfitted estimator.
    grid : dict
        A ``GridSearchCV`` parameter grid.
    path : str

    Examples
    --------
    >>> recipe = load_recipe("finetune_full")
    >>> recipe.kind, recipe.description
    ('finetune', 'Fine-tuning: every layer trains, the new layer at a 10x higher learning rate.')
    """
    name: str
    kind: str
    description: str
    build: object
    grid: dict
    path: str


def recipes_dir() -> Path:
    """The folder of the built-in recipes: installed with the package, or the checkout's ``pipelines/``.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> (recipes_dir() / "cnn_logreg.py").is_file()
    True
    """
    installed = Path(__file__).resolve().parent / "pipelines"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "pipelines"


def list_recipes():
    """Names of the built-in recipes, sorted.

    Returns
    -------
    list of str

    Examples
    --------
    >>> "cnn_logreg" in list_recipes() and "finetune_two_stage" in list_recipes()
    True
    """
    return sorted(p.stem for p in recipes_dir().glob("*.py") if not p.stem.startswith("_"))


def load_recipe(name_or_path) -> Recipe:
    """Load a built-in recipe by name, or a user's recipe file by path.

    Parameters
    ----------
    name_or_path : str or Path
        A name from :func:`list_recipes`, or the path of a ``.py`` file.

    Returns
    -------
    Recipe
        Its name, kind, description, ``build`` function, ``GRID`` and path.

    Examples
    --------
    >>> recipe = load_recipe("cnn_svm")
    >>> recipe.kind, sorted(recipe.grid)
    ('hybrid', ['head__estimator__C'])
    """
    path = Path(name_or_path)
    if path.suffix != ".py":
        path = recipes_dir() / f"{name_or_path}.py"
        if not path.is_file():
            raise ValueError(f"unknown recipe {str(name_or_path)!r}; built-in recipes: {', '.join(list_recipes())}, "
                             "or the path of a .py file that defines build() and GRID")
    elif not path.is_file():
        raise ValueError(f"recipe file {str(path)!r} does not exist")
    spec = importlib.util.spec_from_file_location(f"hybridtl_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "build", None)):
        raise ValueError(f"recipe file {str(path)!r} defines no build(**settings) function")
    doc = (module.__doc__ or path.stem).strip().splitlines()[0]
    return Recipe(path.stem, getattr(module, "KIND", "custom"), doc, module.build, getattr(module, "GRID", {}),
                  str(path))


def hybrid_builder(head):
    """A recipe ``build`` for a frozen-CNN pipeline with the named head.

    Parameters
    ----------
    head : {"logreg", "svm", "xgboost"}

    Returns
    -------
    callable
        ``build(image_size=None, device="auto", random_state=0, progress=False, cache="auto",
        backbone="efficientnet_lite0", weights="imagenet", precision="fp32", decode="fast", **_)``,
        which returns :func:`hybridtl.heads.make_hybrid_pipeline`'s pipeline.

    Examples
    --------
    >>> build = hybrid_builder("svm")
    >>> [name for name, _ in build(image_size=64).steps]
    ['features', 'scale', 'head']
    """

    def build(image_size=None, device="auto", random_state=0, progress=False, cache="auto",
              backbone="efficientnet_lite0", weights="imagenet", precision="fp32", decode="fast", **_):
        from .heads import make_hybrid_pipeline  # when a recipe is built: listing recipes imports no torch

        return make_hybrid_pipeline(head, random_state=random_state, image_size=image_size, device=device,
                                    progress=progress, cache=cache, backbone=backbone, weights=weights,
                                    precision=precision, decode=decode)

    return build


def finetune_builder(strategy, lr=None):
    """A recipe ``build`` for a :class:`~hybridtl.finetune.FineTuneClassifier`, by strategy and learning rate.

    Parameters
    ----------
    strategy : {"head", "full", "gradual", "two_stage", "scratch"}
    lr : float or None, default=None
        None: the strategy's own (:data:`hybridtl.finetune.STRATEGY_DEFAULTS`).

    Returns
    -------
    callable
        ``build(image_size=None, device="auto", epochs=20, batch_size=32, augment=True, random_state=0,
        progress=False, backbone="efficientnet_lite0", weights="imagenet", decode="fast", **_)``, which returns the
        classifier (early stopping patience 5).

    Examples
    --------
    >>> clf = finetune_builder("gradual", lr=3e-4)(epochs=8)
    >>> clf.strategy, clf.lr, clf.epochs, clf.patience
    ('gradual', 0.0003, 8, 5)
    """

    def build(image_size=None, device="auto", epochs=20, batch_size=32, augment=True, random_state=0,
              progress=False, backbone="efficientnet_lite0", weights="imagenet", decode="fast", **_):
        from .finetune import FineTuneClassifier  # when a recipe is built: listing recipes imports no torch

        return FineTuneClassifier(backbone=backbone, weights=weights, strategy=strategy, lr=lr, epochs=epochs,
                                  batch_size=batch_size, patience=5, augment=augment, image_size=image_size,
                                  device=device, random_state=random_state, progress=progress, decode=decode)

    return build
