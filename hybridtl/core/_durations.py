"""Durations as people write them: ``90``, ``90s``, ``10m``, ``1.5h`` (the CLI's ``--time-budget``)."""

from __future__ import annotations

import re

__all__ = ["format_duration", "parse_duration"]

_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


def parse_duration(text):
    """Seconds in ``text``: a number of seconds, or a number with the unit ``s``, ``m`` (minutes) or ``h``.

    Parameters
    ----------
    text : str or number

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Text that is no positive duration, naming the accepted forms.

    Examples
    --------
    >>> parse_duration("10m"), parse_duration("90s"), parse_duration("1.5h"), parse_duration(45)
    (600.0, 90.0, 5400.0, 45.0)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _PATTERN.match(str(text).lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(f"{text!r} is not a duration; give seconds (600), or a number with s, m or h "
                             "(90s, 10m, 1h)")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"a duration must be a positive number of seconds; got {text!r}")
    return seconds


def format_duration(seconds):
    """A duration for people: ``"45 s"``, ``"2 min 05 s"``, ``"1 h 02 min"``.

    Examples
    --------
    >>> format_duration(45.2), format_duration(125), format_duration(3720)
    ('45 s', '2 min 05 s', '1 h 02 min')
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
