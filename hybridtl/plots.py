"""Pictures of results: learning curves, lr range test, confusion matrices, the benchmark summary."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .atomic import atomic_path  # noqa: E402

__all__ = ["plot_confusion_matrix", "plot_history", "plot_image_grid", "plot_lr_find", "plot_summary"]


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path


def plot_history(history, path, title=""):
    """Loss and accuracy per epoch (train and validation) from a ``history_`` frame."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for column, ax in (("loss", ax_loss), ("acc", ax_acc)):
        ax.plot(history["epoch"], history[f"train_{column}"], "o-", label="train")
        if history[f"val_{column}"].notna().any():
            ax.plot(history["epoch"], history[f"val_{column}"], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(column)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return _save(fig, path)


def plot_lr_find(frame, suggested, path):
    """Smoothed loss against learning rate (log scale), with the suggestion marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(frame["lr"], frame["loss"])
    ax.axvline(suggested, color="red", linestyle="--", label=f"suggested {suggested:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    ax.legend()
    return _save(fig, path)


def plot_confusion_matrix(y_true, y_pred, labels, path, title=""):
    """A confusion-matrix PNG drawn by scikit-learn's ConfusionMatrixDisplay."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(max(4, 0.5 * len(labels) + 2),) * 2)
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax, colorbar=False)
    ax.set_title(title)
    return _save(fig, path)


def plot_summary(results, path):
    """Test accuracy against fit time, one labelled point per recipe."""
    fig, ax = plt.subplots(figsize=(7, 5))
    for row in results.itertuples():
        ax.scatter(row.fit_seconds, row.accuracy, s=60)
        ax.annotate(row.recipe, (row.fit_seconds, row.accuracy), textcoords="offset points", xytext=(5, 5))
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.set_title("accuracy vs fit time per recipe")
    return _save(fig, path)


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
    return _save(fig, path)
