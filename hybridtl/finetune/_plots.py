"""Pictures of a training run: learning curves per epoch, and the learning-rate range test."""

from __future__ import annotations

from ..core import save_figure

__all__ = ["plot_history", "plot_lr_find"]


def _figures():
    """matplotlib's pyplot on the Agg backend (files only), imported when a picture is asked for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_history(history, path, title=""):
    """Loss and accuracy per epoch (train and validation) from a ``history_`` frame."""
    plt = _figures()
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
    return save_figure(fig, path)


def plot_lr_find(frame, suggested, path):
    """Smoothed loss against learning rate (log scale), with the suggestion marked."""
    plt = _figures()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(frame["lr"], frame["loss"])
    ax.axvline(suggested, color="red", linestyle="--", label=f"suggested {suggested:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("smoothed loss")
    ax.legend()
    return save_figure(fig, path)
