"""Parameter validation: constraints declared as data, one function that checks them, one message shape.

As in scikit-learn's ``utils/_param_validation.py``, each estimator declares
``_parameter_constraints``, a dict from a parameter's name to a list of
constraints of which one must hold; :func:`validate_params` checks them when
``fit`` starts. Every refusal reads the same way::

    "lr" must be a number in (0, inf); got -1

and raises :class:`InvalidParameterError`, which is both a ``ValueError`` and a
``TypeError`` (a wrong type and a wrong value are refused alike, and code
catching either one keeps working). A constraint is one of: an
:class:`Interval`, :class:`Options` (a fixed set of strings), :class:`Boolean`,
:class:`InstanceOf`, :class:`Callable`, or ``None`` (the value ``None`` is
accepted).
"""

from __future__ import annotations

import math
import numbers
import os

from ._options import DECODES, DEVICES, ON_ERROR

__all__ = [
    "Boolean",
    "Callable",
    "DeviceName",
    "InstanceOf",
    "Interval",
    "InvalidParameterError",
    "Options",
    "check_param",
    "IMAGE_ESTIMATOR_CONSTRAINTS",
    "image_size_constraint",
    "validate_params",
]


class InvalidParameterError(ValueError, TypeError):
    """A parameter's value is outside its constraints; the message names it, what it got and what is accepted.

    Examples
    --------
    >>> from hybridtl.features import CNNFeatureExtractor
    >>> try:
    ...     CNNFeatureExtractor(pooling="median").fit()
    ... except InvalidParameterError as error:
    ...     print(error)
    "pooling" must be one of 'avg', 'max', 'gem', 'avgmax'; got 'median'
    """

    __module__ = "hybridtl.core"  # its public home, as tracebacks and pickles name it


class Interval:
    """Numbers of ``kind`` ("integer" or "number") between ``low`` and ``high``.

    Booleans are never numbers here.

    Parameters
    ----------
    kind : {"integer", "number"}
    low, high : number or None
        The ends; ``None`` means unbounded.
    closed : {"both", "left", "right", "neither"}, default="both"
        Which ends belong to the interval.

    Examples
    --------
    >>> Interval("number", 0, 1, closed="right").is_satisfied_by(0)
    False
    >>> str(Interval("integer", 1, None))
    'an integer >= 1'
    """

    def __init__(self, kind, low, high, closed="both"):
        if kind not in ("integer", "number") or closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"Interval({kind!r}, ..., closed={closed!r}) is not a valid constraint")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value):
        wanted = numbers.Integral if self.kind == "integer" else numbers.Real
        if isinstance(value, bool) or not isinstance(value, wanted) or not math.isfinite(value):
            return False
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left") else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right") else value < self.high)
        return low_ok and high_ok

    def __str__(self):
        kind = "an integer" if self.kind == "integer" else "a number"
        left_closed, right_closed = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.high is None:
            return f"{kind} {'>=' if left_closed else '>'} {self.low}"
        if self.low is None:
            return f"{kind} {'<=' if right_closed else '<'} {self.high}"
        return f"{kind} in {'[' if left_closed else '('}{self.low}, {self.high}{']' if right_closed else ')'}"


class Options:
    """One of a fixed tuple of strings (an option list such as the strategies).

    Parameters
    ----------
    values : iterable of str

    Examples
    --------
    >>> Options(("avg", "max")).is_satisfied_by("max"), str(Options(("avg", "max")))
    (True, "one of 'avg', 'max'")
    """

    def __init__(self, values):
        self.values = tuple(values)

    def is_satisfied_by(self, value):
        return isinstance(value, str) and value in self.values

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class Boolean:
    """``True`` or ``False`` (numpy booleans too).

    Examples
    --------
    >>> Boolean().is_satisfied_by(True), Boolean().is_satisfied_by(1)
    (True, False)
    """

    def is_satisfied_by(self, value):
        return isinstance(value, bool) or type(value).__name__ == "bool_"

    def __str__(self):
        return "True or False"


class InstanceOf:
    """An instance of ``types``, described as ``what``.

    Parameters
    ----------
    types : type or tuple of type
    what : str
        How the error message names what is accepted.

    Examples
    --------
    >>> str(InstanceOf(dict, "a dict of label -> weight"))
    'a dict of label -> weight'
    """

    def __init__(self, types, what):
        self.types, self.what = types, what

    def is_satisfied_by(self, value):
        return isinstance(value, self.types)

    def __str__(self):
        return self.what


class Callable:
    """Any callable, described as ``what``.

    Parameters
    ----------
    what : str, default="a callable"

    Examples
    --------
    >>> Callable().is_satisfied_by(len), Callable().is_satisfied_by(3)
    (True, False)
    """

    def __init__(self, what="a callable"):
        self.what = what

    def is_satisfied_by(self, value):
        return callable(value)

    def __str__(self):
        return self.what


class DeviceName:
    """Where models run: 'auto', 'cpu', 'cuda', 'cuda:N', or a ``torch.device``.

    Only the name is checked here; whether a GPU is there is checked when the
    device is resolved (:func:`hybridtl.devices.resolve_device`).

    Examples
    --------
    >>> [DeviceName().is_satisfied_by(d) for d in ("auto", "cuda:1", "tpu")]
    [True, True, False]
    """

    def is_satisfied_by(self, value):
        if type(value).__name__ == "device" and type(value).__module__ == "torch":
            return True
        return isinstance(value, str) and value.split(":")[0] in DEVICES

    def __str__(self):
        return f"one of {', '.join(repr(d) for d in DEVICES)} (or 'cuda:N')"


def _describe(constraints):
    words = ["None" if c is None else str(c) for c in constraints]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_param(name, value, constraints):
    """Refuse ``value`` unless one of ``constraints`` holds; return it unchanged.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value : object
    constraints : list
        Constraints of which one must hold; ``None`` in the list accepts the value ``None``.

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    InvalidParameterError
        ``"name" must be ...; got ...``.

    Examples
    --------
    >>> check_param("epochs", 0, [Interval("integer", 1, None)])
    Traceback (most recent call last):
    ...
    hybridtl.core.InvalidParameterError: "epochs" must be an integer >= 1; got 0
    """
    for constraint in constraints:
        if (value is None) if constraint is None else constraint.is_satisfied_by(value):
            return value
    raise InvalidParameterError(f'"{name}" must be {_describe(constraints)}; got {value!r}')


def validate_params(params, constraints):
    """Check every parameter of ``params`` (a dict) that ``constraints`` names.

    Parameters
    ----------
    params : dict
        Parameter values, e.g. ``estimator.get_params(deep=False)``.
    constraints : dict
        Parameter name -> list of constraints, e.g. ``estimator._parameter_constraints``.

    Returns
    -------
    None

    Raises
    ------
    InvalidParameterError
        At the first parameter outside its constraints.

    Examples
    --------
    >>> validate_params({"pooling": "median"}, {"pooling": [Options(("avg", "max"))]})
    Traceback (most recent call last):
    ...
    hybridtl.core.InvalidParameterError: "pooling" must be one of 'avg', 'max'; got 'median'
    """
    for name, accepted in constraints.items():
        if name in params:
            check_param(name, params[name], accepted)


MIN_IMAGE_SIZE = 16


def image_size_constraint(allow_none=True):
    """The one rule for ``image_size`` everywhere: an integer >= 16, or None for the backbone's own size.

    Parameters
    ----------
    allow_none : bool, default=True
        Whether None (the backbone's own size) is accepted.

    Returns
    -------
    list
        The constraints.

    Examples
    --------
    >>> check_param("image_size", 8, image_size_constraint())
    Traceback (most recent call last):
    ...
    hybridtl.core.InvalidParameterError: "image_size" must be None or an integer >= 16; got 8
    """
    return ([None] if allow_none else []) + [Interval("integer", MIN_IMAGE_SIZE, None)]


# The parameters every estimator that reads images through a backbone shares, checked alike everywhere.
IMAGE_ESTIMATOR_CONSTRAINTS = {
    "backbone": [InstanceOf(str, "a registry name such as 'efficientnet_lite0' or 'timm:resnet18'")],
    "weights": [None, InstanceOf((str, os.PathLike), "'imagenet' or a weights file path")],
    "image_size": image_size_constraint(),
    "device": [DeviceName()],
    "amp": [Options(("auto",)), Boolean()],
    "num_workers": [Options(("auto",)), Interval("integer", 0, None)],
    "progress": [Boolean()],
    "on_error": [Options(ON_ERROR)],
    "decode": [Options(DECODES)],
}
