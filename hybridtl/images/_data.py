"""Data sets named on the command line: an image folder, a CSV of paths and labels, or ``digits``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._datasets import load_digits_images
from ._folders import IMAGE_EXTENSIONS, class_folders, list_images, load_image_folder
from ._readable import find_unreadable

__all__ = ["Dataset", "drop_unreadable", "load_data", "subset"]


@dataclass
class Dataset:
    """A data set as the command line names it: images, labels, an id per image and a name.

    Parameters
    ----------
    X : list of paths or array of images
    y : numpy.ndarray or None
        Labels, or None for unlabelled images.
    ids : list
        A path or an index per image, for prediction files.
    name : str

    Examples
    --------
    >>> from hybridtl.images import load_data
    >>> data = load_data("digits", limit_per_class=2)
    >>> len(data.X), sorted(set(data.y.tolist())) == list(range(10)), data.name
    (20, True, 'digits')
    """
    X: object  # list of paths, or an array of images
    y: object  # labels (numpy array), or None for unlabelled images
    ids: list  # a path or an index per image, for prediction files
    name: str


def _from_csv(path, labelled):
    try:
        table = pd.read_csv(path)
    except Exception as exc:
        raise ValueError(f"could not read CSV {str(path)!r}: {exc}") from None
    needed = {"path", "label"} if labelled else {"path"}
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"CSV {str(path)!r} lacks column(s) {sorted(missing)}; it needs "
                         f"{' and '.join(sorted(needed))}")
    if table.empty:
        raise ValueError(f"CSV {str(path)!r} has no rows")
    for column in sorted(needed):
        blank = np.flatnonzero(table[column].isna().to_numpy())
        if len(blank):
            lines = ", ".join(str(i + 2) for i in blank[:5]) + (", ..." if len(blank) > 5 else "")
            raise ValueError(f"CSV {str(path)!r} has {len(blank)} row(s) with no {column} (line {lines}); "
                             f"every row needs one")
    base = Path(path).resolve().parent
    given = table["path"].astype(str).tolist()
    paths = [str(p if Path(p).is_absolute() else base / p) for p in given]
    return paths, table["label"].to_numpy() if "label" in table.columns else None, given


def _from_folder(folder, labelled):
    """Class subfolders give labels; without them, images lying in the folder itself are unlabelled."""
    if labelled or class_folders(folder):
        return load_image_folder(folder)
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"image folder {str(folder)!r} holds no images and no class subfolders")
    return paths, None


def load_data(spec, limit_per_class=None, random_state=0, labelled=True) -> Dataset:
    """Load ``spec``: ``"digits"``, a folder with one subfolder per class, or a CSV with path and label columns.

    ``limit_per_class`` keeps at most that many images of each class (a random,
    seeded choice), for quick runs. With ``labelled=False`` (for predictions)
    a plain folder of images or a CSV with only a path column is accepted too,
    and ``y`` is None. Relative paths in a CSV are relative to the CSV.

    Parameters
    ----------
    spec : str or Path
        ``"digits"`` (scikit-learn's digits), an image folder, a CSV, or (unlabelled) one image file.
    limit_per_class : int, optional
    random_state : int, default=0
        Seed of the ``limit_per_class`` choice.
    labelled : bool, default=True

    Returns
    -------
    Dataset

    Examples
    --------
    >>> data = load_data("digits", limit_per_class=5)
    >>> len(data.y), data.name
    (50, 'digits')
    """
    spec_path = Path(str(spec))
    if str(spec) == "digits":
        if spec_path.exists():
            raise ValueError("'digits' names both scikit-learn's built-in digits and the path 'digits' here: give "
                             "'./digits' for yours, or run from another folder for the built-in digits")
        X, y = load_digits_images()
        data = Dataset(X, y, list(range(len(y))), "digits")
    elif spec_path.is_dir():
        paths, labels = _from_folder(spec_path, labelled)
        data = Dataset(paths, labels, paths, spec_path.name)
    elif spec_path.suffix.lower() == ".csv" and spec_path.is_file():
        paths, labels, given = _from_csv(spec_path, labelled)
        data = Dataset(paths, labels, given, spec_path.stem)
    elif spec_path.suffix.lower() in IMAGE_EXTENSIONS and spec_path.is_file():
        if labelled:
            raise ValueError(f"data {str(spec)!r} is a single image, which has no label; give an image folder "
                             "(one subfolder per class) or a CSV with 'path' and 'label' columns")
        data = Dataset([str(spec)], None, [str(spec)], spec_path.stem)
    else:
        kinds = "an image folder (one subfolder per class), a CSV file with 'path' and 'label' columns, or 'digits'"
        if not labelled:
            kinds = "an image file, a folder of images, a CSV file with a 'path' column, or 'digits'"
        raise ValueError(f"data {str(spec)!r} not found: give {kinds}")
    return _limit(data, limit_per_class, random_state) if limit_per_class and data.y is not None else data


def _limit(data, per_class, random_state):
    rng = np.random.default_rng(random_state)
    keep = np.sort(np.concatenate([
        rng.permutation(np.flatnonzero(data.y == label))[:per_class] for label in np.unique(data.y)
    ]))
    return subset(data, keep)


def drop_unreadable(data, num_workers=0, min_side=None):
    """(the readable part of ``data``, a table of the unreadable images: id, error); ``min_side`` as for
    :func:`find_unreadable`."""
    bad = find_unreadable(data.X, num_workers, min_side)
    skipped = pd.DataFrame({"path": [str(data.ids[i]) for i, _, _ in bad],
                            "error": [message for _, _, message in bad]})
    keep = np.setdiff1d(np.arange(len(data.ids)), [i for i, _, _ in bad])
    return (subset(data, keep) if bad else data), skipped


def subset(data, index):
    """The images of ``data`` at positions ``index``."""
    X = data.X[index] if isinstance(data.X, np.ndarray) else [data.X[i] for i in index]
    y = None if data.y is None else data.y[index]
    return Dataset(X, y, [data.ids[i] for i in index], data.name)
