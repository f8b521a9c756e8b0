"""Class labels: encoding them for training, and reading them back from probabilities."""

from __future__ import annotations

import numpy as np

__all__ = ["align_labels", "check_two_classes", "encode_labels", "labels_from_proba"]


def encode_labels(y, who="a classifier"):
    """Labels -> (sorted classes, integer codes), refusing what no classifier can learn from.

    One place for what every hybridtl classifier refuses: no ``y``, ``y`` that
    is not one label per image, an empty ``y``, continuous values, a single class.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    who : str, default="a classifier"
        Names the estimator in the message for a missing ``y``.

    Returns
    -------
    classes : numpy.ndarray
        The sorted distinct labels.
    codes : numpy.ndarray of int
        Each label's position in ``classes``.

    Examples
    --------
    >>> encode_labels(["dog", "cat", "dog"])
    (array(['cat', 'dog'], dtype='<U3'), array([1, 0, 1]))
    >>> encode_labels([3, 3])
    Traceback (most recent call last):
    ...
    ValueError: y has a single class (3); a classifier needs at least 2
    """
    from sklearn.utils.multiclass import check_classification_targets

    if y is None:
        raise ValueError(f"{who} requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one label per image (1-d), got shape {y.shape}")
    if len(y) == 0:
        raise ValueError("y is empty: fit needs images and labels of at least 2 classes")
    check_classification_targets(y)
    classes, codes = np.unique(y, return_inverse=True)
    return check_two_classes(classes), codes.reshape(-1)


def check_two_classes(classes):
    """``classes`` when there are two or more; else the one message for a single class."""
    if len(classes) < 2:
        label = classes[0].item() if hasattr(classes[0], "item") else classes[0]
        raise ValueError(f"y has a single class ({label!r}); a classifier needs at least 2")
    return classes


def labels_from_proba(proba, classes):
    """The most probable class of each row; None (in an object array) for rows of NaN, unreadable images.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
    classes : array-like of shape (n_classes,)

    Returns
    -------
    numpy.ndarray of shape (n_samples,)

    Examples
    --------
    >>> labels_from_proba([[0.2, 0.8], [0.6, 0.4]], np.array([3, 7]))
    array([7, 3])
    >>> labels_from_proba([[0.2, 0.8], [np.nan, np.nan]], np.array([3, 7]))
    array([7, None], dtype=object)
    """
    proba = np.asarray(proba, dtype=np.float64)
    unread = np.isnan(proba).any(axis=1)
    labels = np.asarray(classes)[np.where(unread, 0, np.nan_to_num(proba).argmax(axis=1))]
    if unread.any():
        labels = labels.astype(object)
        labels[unread] = None
    return labels


def align_labels(y, classes):
    """True labels ``y`` in the type of a model's ``classes_``, so that both can be compared.

    A class folder's name is text ('3') while a CSV's label column is read as a
    number (3): a model fitted on one and scored on the other would count every
    image wrong, or scikit-learn's metrics would refuse the mix. Each label
    whose text is a class's text becomes that class; the others (classes the
    model never saw) stay as given.

    Parameters
    ----------
    y : array-like
        True labels.
    classes : array-like
        A fitted model's ``classes_``.

    Returns
    -------
    y : ndarray
        The aligned labels.
    as_text : bool
        True when some unseen label keeps a type other than the classes', in
        which case ``y`` is text and predictions must be compared as text too.

    Examples
    --------
    >>> align_labels(np.array([3, 7]), np.array(["3", "7"]))
    (array(['3', '7'], dtype='<U1'), False)
    >>> align_labels(np.array(["3", "cat"]), np.array([3, 7]))
    (array(['3', 'cat'], dtype='<U21'), True)
    """
    classes = np.asarray(classes)
    by_text = {str(c): c for c in classes.tolist()}
    aligned = np.asarray([by_text.get(str(v), v) for v in np.asarray(y).tolist()])
    as_text = aligned.dtype.kind != classes.dtype.kind and {aligned.dtype.kind, classes.dtype.kind} & {"U", "O"}
    return (aligned.astype(str) if as_text else aligned), bool(as_text)
