"""Which images a fitted classifier gets wrong, and how badly (as fastai's ``ClassificationInterpretation``).

Works on any fitted classifier with ``predict_proba`` and ``classes_`` that
takes images: a hybrid ``Pipeline`` as much as a
:class:`~hybridtl.finetune.FineTuneClassifier`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core import labels_from_proba
from ..images import as_image_set, display_image, rows_for_readable
from ._plots import plot_image_grid

__all__ = ["ClassificationInterpretation"]


class ClassificationInterpretation:
    """Per-image losses, top losses, most confused pairs and pictures of them.

    Build it with :meth:`from_estimator`; the loss of an image is the
    cross-entropy ``-log p(true class)`` (infinite when the model never saw
    the true class, NaN for an image skipped as unreadable).

    Parameters
    ----------
    X : images
    y_true : array-like of shape (n_samples,)
    proba : array-like of shape (n_samples, n_classes)
        The model's probabilities, NaN rows for unreadable images.
    classes : array-like of shape (n_classes,)

    Examples
    --------
    >>> from hybridtl.images import load_digits_images
    >>> from hybridtl.heads import make_hybrid_pipeline
    >>> X, y = load_digits_images()
    >>> pipe = make_hybrid_pipeline("logreg", image_size=32, device="cpu", progress=False).fit(X[:90], y[:90])
    >>> interp = ClassificationInterpretation.from_estimator(pipe, X[90:150], y[90:150])
    >>> list(interp.top_losses(3).columns)
    ['index', 'actual', 'predicted', 'probability', 'loss']
    >>> list(interp.most_confused().columns)
    ['actual', 'predicted', 'count']
    """

    def __init__(self, X, y_true, proba, classes):
        self.images = as_image_set(X, on_error="skip")
        self.y_true = np.asarray(y_true)
        self.proba = np.asarray(proba, dtype=np.float64)
        self.classes = np.asarray(classes)
        if not (len(self.images) == len(self.y_true) == len(self.proba)):
            raise ValueError(f"X has {len(self.images)} images, y {len(self.y_true)} labels and proba "
                             f"{len(self.proba)} rows; they must match")

    @classmethod
    def from_estimator(cls, estimator, X, y):
        """Predict ``X`` once with a fitted ``estimator`` and keep what the plots need.

        Files that cannot be read are named in one ``SkippedImagesWarning`` and get NaN rows.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        if not hasattr(estimator, "predict_proba"):
            raise TypeError(f"{type(estimator).__name__} has no predict_proba; interpretation needs probabilities")
        images = as_image_set(X, on_error="skip")
        # Unreadable files are named once and left out here, so that any model (a Pipeline whose head
        # refuses NaN features included) predicts only the images it can read. The model gets the
        # user's own X, or, when some were left out, the list of the readable paths (arrays always read).
        proba = rows_for_readable(images, "skip", 0, len(estimator.classes_),
                                  lambda part: estimator.predict_proba(X if part is images else part.items),
                                  np.float64)
        return cls(images, y, proba, estimator.classes_)

    @property
    def predicted(self):
        """Predicted labels; None where the image could not be read."""
        return labels_from_proba(self.proba, self.classes).astype(object)

    @property
    def losses(self):
        """Cross-entropy of each image's true class."""
        column = {label: i for i, label in enumerate(self.classes.tolist())}
        index = np.array([column.get(label, -1) for label in self.y_true.tolist()])
        p_true = np.where(index >= 0, self.proba[np.arange(len(index)), np.maximum(index, 0)], 0.0)
        with np.errstate(divide="ignore"):
            return -np.log(p_true)

    def top_losses(self, k=None):
        """The ``k`` (all by default) readable images with the highest loss, highest first."""
        frame = pd.DataFrame({"index": np.arange(len(self.y_true)), "actual": self.y_true,
                              "predicted": self.predicted, "probability": np.nanmax(self._finite_proba(), axis=1),
                              "loss": self.losses})
        frame = frame[frame["loss"].notna()].sort_values("loss", ascending=False, kind="stable")
        return frame.head(k).reset_index(drop=True) if k is not None else frame.reset_index(drop=True)

    def most_confused(self, min_count=1):
        """(actual, predicted, count) of the wrong predictions, most frequent first."""
        frame = pd.DataFrame({"actual": self.y_true.astype(object), "predicted": self.predicted})
        wrong = frame[frame["predicted"].notna() & (frame["actual"] != frame["predicted"])]
        counts = wrong.groupby(["actual", "predicted"], sort=False).size().reset_index(name="count")
        counts = counts[counts["count"] >= min_count]
        return counts.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)

    def plot_top_losses(self, path, k=9):
        """Save a grid of the ``k`` worst images: predicted / actual / loss / probability of the prediction."""
        rows = self.top_losses(k)
        titles = [f"{r.predicted}/{r.actual}\n{r.loss:.2f}/{r.probability:.2f}" for r in rows.itertuples()]
        return self._grid(rows["index"].tolist(), titles, [False] * len(rows), path,
                          "prediction/actual, loss/probability")

    def plot_results(self, path, k=9, random_state=0):
        """Save a grid of ``k`` random readable images, titled actual/predicted, wrong ones in red."""
        readable = np.flatnonzero(~np.isnan(self.proba).any(axis=1))
        rng = np.random.default_rng(random_state)
        chosen = np.sort(rng.choice(readable, size=min(k, len(readable)), replace=False))
        predicted = self.predicted
        titles = [f"{self.y_true[i]}/{predicted[i]}" for i in chosen]
        wrong = [self.y_true[i] != predicted[i] for i in chosen]
        return self._grid(chosen.tolist(), titles, wrong, path, "actual/predicted")

    def _finite_proba(self):
        return np.where(np.isnan(self.proba), -np.inf, self.proba)

    def _grid(self, indices, titles, wrong, path, suptitle):
        pictures = [display_image(self.images, i) for i in indices]
        return plot_image_grid(pictures, titles, wrong, path, suptitle)
