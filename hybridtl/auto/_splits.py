"""How the search splits the data: cross-validation folds for the cheap contenders, the first fold's held-out
part for fine-tuning, and which contenders the class sizes allow."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import LeaveOneOut, StratifiedKFold

from ..images import ImageList, as_image_set, decoded_or_unreadable

__all__ = ["FEW_IMAGES", "Folds", "holds_files", "keep_decoded", "take"]

# below this many images in a class, fine-tuning is skipped: its held-out fold would hold one or two of them
FEW_IMAGES = 10


class Folds:
    """Stratified ``cv``-fold splits (fewer when a class is smaller; leave-one-out when a class has one image).

    ``train`` and ``holdout`` are the first fold's parts: fine-tuning contenders train on ``train``
    and are scored on ``holdout``, the same images every cheap contender's first fold is scored on.

    Parameters
    ----------
    y : array-like of labels
    cv : int
    seed : int

    Examples
    --------
    >>> folds = Folds(np.repeat([0, 1], 20), cv=5, seed=0)
    >>> folds.n_splits, len(folds.train), len(folds.holdout), folds.smallest
    (5, 32, 8, 20)
    """

    def __init__(self, y, cv, seed):
        y = np.asarray(y)
        classes, counts = np.unique(y, return_counts=True)
        self.smallest = int(counts.min())
        self.smallest_class = classes[counts.argmin()]
        k = min(int(cv), self.smallest)
        self.splitter = StratifiedKFold(k, shuffle=True, random_state=seed) if k >= 2 else LeaveOneOut()
        self.splits = list(self.splitter.split(np.zeros(len(y)), y))
        self.n_splits = len(self.splits)
        self.train, self.holdout = self.splits[0]
        self.description = (f"{self.n_splits}-fold CV" if k >= 2 else "leave-one-out")

    def finetune_allowed(self):
        """(whether fine-tuning suits the class sizes, the reason when it does not)."""
        if self.smallest < FEW_IMAGES:
            return False, (f"class {self.smallest_class!r} has {self.smallest} images, fewer than {FEW_IMAGES}: "
                           "too few to fine-tune and validate")
        return True, ""


def take(X, rows):
    """The images of ``X`` at positions ``rows``, in the container ``X`` came in (what hybridtl's estimators accept).

    Written here because scikit-learn's ``_safe_indexing`` is private and does not know torch tensors.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if hasattr(X, "shape") and hasattr(X, "__getitem__") and not isinstance(X, (list, tuple)):
        return X[rows]
    return [X[i] for i in rows]


def keep_decoded(model, X):
    """Decode the files of ``X`` once into the store at fitted ``model``'s preprocessing, as its fit keeps its
    own: every contender, rung and feature step reading them at it afterwards decodes nothing (the store
    gives what the files give). Unreadable files are left for the model's ``on_error`` to treat."""
    preprocess = getattr(model, "preprocess_", None)
    if preprocess is not None:
        decoded_or_unreadable(as_image_set(X, getattr(model, "on_error", "raise")), preprocess,
                              getattr(model, "num_workers", "auto"))


def holds_files(X):
    """Whether ``X`` holds image files (what the decoded store keeps)."""
    images = as_image_set(X, "skip")
    return isinstance(images, ImageList) and images.n_files() > 0
