"""Image files in folders: one subfolder per class, hidden files and foreign files skipped."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["IMAGE_EXTENSIONS", "class_folders", "is_hidden", "list_images", "load_image_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".heic", ".heif", ".avif", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                    ".ppm", ".pgm")


def is_hidden(name):
    """Names that are never data: dot files and folders (``.DS_Store``, macOS ``._x.jpg``,
    ``.ipynb_checkpoints``) and macOS archive folders (``__MACOSX``)."""
    return name.startswith(".") or name == "__MACOSX"


def list_images(folder, extensions=IMAGE_EXTENSIONS):
    """Image files under ``folder`` at any depth, sorted; hidden files and folders skipped at every depth.

    Only names ending in one of ``extensions`` (any case) count. Symbolic links
    are followed, each real folder visited once, so a link loop ends.

    Parameters
    ----------
    folder : str or Path
    extensions : tuple of str, default=IMAGE_EXTENSIONS

    Returns
    -------
    list of str
        The paths, sorted.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("a.PNG", "._a.png", ".ipynb_checkpoints/b.png", "notes.txt", "sub/c.jpg"):
    ...     (root / name).parent.mkdir(exist_ok=True)
    ...     (root / name).touch()
    >>> [str(Path(p).relative_to(root)) for p in list_images(root)]
    ['a.PNG', 'sub/c.jpg']
    """
    extensions = tuple(e.lower() for e in extensions)
    found, seen = [], set()
    for current, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        found += [os.path.join(current, f) for f in files if not is_hidden(f) and f.lower().endswith(extensions)]
    return sorted(found)


def class_folders(root):
    """The visible subfolders of ``root``, sorted by name (links to folders count)."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and not is_hidden(p.name))


def load_image_folder(path, extensions=IMAGE_EXTENSIONS):
    """Image paths and labels from a folder with one subfolder per class.

    Hidden files and folders (``.``-prefixed, ``._*``, ``.ipynb_checkpoints``,
    ``__MACOSX``) are skipped at every depth, and only files whose suffix is in
    ``extensions`` (any case) count; see :func:`list_images`.

    Parameters
    ----------
    path : str or Path
        The folder; each subfolder's name is the label of the images in it.
    extensions : tuple of str
        File suffixes that count as images.

    Returns
    -------
    paths : list of str
        Sorted by class, then file name.
    labels : numpy.ndarray of str

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for cls in ("cat", "dog"):
    ...     (root / cls).mkdir()
    ...     Image.new("RGB", (8, 8)).save(root / cls / "a.png")
    >>> paths, labels = load_image_folder(root)
    >>> labels.tolist()
    ['cat', 'dog']
    """
    root = Path(path)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist or is not a folder")
    classes = class_folders(root)
    if not classes:
        raise ValueError(f"image folder {str(root)!r} has no class subfolders; expected one subfolder of images "
                         "per class")
    paths, labels = [], []
    for class_dir in classes:
        files = list_images(class_dir, extensions)
        if not files:
            raise ValueError(f"class folder {str(class_dir)!r} holds no images (extensions {', '.join(extensions)})")
        paths.extend(files)
        labels.extend([class_dir.name] * len(files))
    return paths, np.asarray(labels)

