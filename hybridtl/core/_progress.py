"""Progress bars that redraw on a terminal and stay out of logs."""

from __future__ import annotations

__all__ = ["progress_bar"]


def progress_bar(iterable=None, progress=True, **kwargs):
    """A ``tqdm.auto`` bar (a widget in a notebook) when ``progress``; drawn only where output is a terminal.

    Outside a terminal (a log file, a pipe, CI) a bar would write its redraws as carriage returns
    between the lines that matter, so tqdm's own check (``disable=None``: off when the stream is
    not a TTY) turns it off there; lines written with ``tqdm.write`` still appear, one per step.

    Examples
    --------
    >>> with progress_bar(total=3, progress=False) as bar:
    ...     bar.update(3)
    >>> bar.disable
    True
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=None if progress else True, **kwargs)
