"""Pictures of results: confusion matrices, the benchmark summary, grids of images."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..core import save_figure  # noqa: E402

__all__ = ["plot_confusion_matrix", "plot_image_grid", "plot_summary"]


def plot_confusion_matrix(y_true, y_pred, labels, path, title=""):
    """A confusion-matrix PNG drawn by scikit-learn's ConfusionMatrixDisplay.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
    labels : array-like
        The rows and columns, in order.
    path : str or Path
    title : str, default=""

    Returns
    -------
    path

    Examples
    --------
    >>> import tempfile
    >>> path = plot_confusion_matrix([0, 1, 1], [0, 1, 0], [0, 1], tempfile.mkdtemp() + "/cm.png")
    >>> open(path, "rb").read(4)
    b'\x89PNG'
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(labels) + 2),) * 2)
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax, colorbar=False)
    ax.set_title(title)
    return save_figure(fig, path)


def plot_summary(results, path):
    """Test accuracy against fit time, one labelled point per recipe (a log time axis).

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``recipe``, ``fit_seconds`` and ``accuracy``, as :func:`run_benchmark` returns.
    path : str or Path

    Returns
    -------
    path

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> results = pd.DataFrame({"recipe": ["a", "b"], "fit_seconds": [3.0, 40.0], "accuracy": [0.9, 0.95]})
    >>> path = plot_summary(results, tempfile.mkdtemp() + "/summary.png")
    >>> open(path, "rb").read(4)
    b'\x89PNG'
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    for row in results.itertuples():
        ax.scatter(row.fit_seconds, row.accuracy, s=60)
        ax.annotate(row.recipe, (row.fit_seconds, row.accuracy), textcoords="offset points", xytext=(5, 5))
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.set_title("accuracy vs fit time per recipe")
    return save_figure(fig, path)


def plot_image_grid(pictures, titles, red, path, title=""):
    """Images (float (h, w, 3) in [0, 1], or None for unreadable ones) in a square-ish grid with titles."""
    import math

    n = max(len(pictures), 1)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, text, is_red in zip(axes.flat, pictures, titles, red):
        if picture is None:
            ax.text(0.5, 0.5, "unreadable", ha="center", va="center")
        else:
            ax.imshow(picture.clip(0, 1), interpolation="nearest")
        ax.set_title(text, fontsize=9, color="red" if is_red else "black")
    fig.suptitle(title)
    return save_figure(fig, path)
