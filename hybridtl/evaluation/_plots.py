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
    """Test accuracy against fit time, one labelled point per recipe (a log time axis labelled 1, 2, 5, 10, ...).

    With the means and standard deviations over seeds (:func:`run_seeds`'s table), each point
    shows the mean and its spread as error bars.

    Parameters
    ----------
    results : pandas.DataFrame
        Columns ``recipe``, ``fit_seconds`` and ``accuracy`` (:func:`run_benchmark`), or
        ``recipe``, ``fit_seconds_mean``, ``accuracy_mean`` and ``accuracy_std`` (:func:`run_seeds`).
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
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    seeds = "accuracy_mean" in results.columns
    fig, ax = plt.subplots(figsize=(7, 5))
    for row in results.itertuples():
        x = row.fit_seconds_mean if seeds else row.fit_seconds
        y = row.accuracy_mean if seeds else row.accuracy
        ax.errorbar(x, y, yerr=row.accuracy_std if seeds else None, fmt="o", markersize=8, capsize=4)
        ax.annotate(row.recipe, (x, y), textcoords="offset points", xytext=(5, 5))
    ax.set_xscale("log")
    # matplotlib labels every minor tick of a short log axis (3x10^0 4x10^0 ...), which run into each other
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("fit time (s, log scale)" + (", mean over seeds" if seeds else ""))
    ax.set_ylabel("test accuracy" + (" (mean and sd over seeds)" if seeds else ""))
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
