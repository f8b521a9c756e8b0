"""Atomic file writes: every file hybridtl writes goes to a temporary name, then is renamed into place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_path", "check_writable", "save_figure"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error remove it.

    An earlier file at ``path`` stays intact when the write fails or is interrupted.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as exc:
        raise OSError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the mode open() would (0644 under umask 022)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(path, suffixes=None, what="--out", folder=False):
    """Fail before any work if ``path`` cannot be written, or lacks one of ``suffixes``.

    Creates and removes an empty probe file beside ``path`` (inside it when
    ``folder``); missing parent folders are created, as the write would.

    Examples
    --------
    >>> check_writable("/proc/no/x.csv")
    Traceback (most recent call last):
    ...
    OSError: cannot write '/proc/no/x.csv': ...
    """
    path = Path(path)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{what} must end in {' or '.join(suffixes)}, got {str(path)!r}")
    if not folder and path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; give a file name")
    parent = path if folder else path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=parent, prefix=".hybridtl-probe."):
            pass
    except OSError as exc:
        raise OSError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def save_figure(fig, path):
    """Write a matplotlib figure as a PNG at ``path``, atomically, and close it; return ``path``."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return path
