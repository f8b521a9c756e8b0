"""Whether a path names a remote file: the one test, by fsspec's own parser."""

from __future__ import annotations

import os

__all__ = ["is_url"]


def is_url(path):
    """Whether ``path`` is a URL that fsspec reads (``s3://``, ``memory://``, ``file://``, ...), not a plain path.

    Examples
    --------
    >>> is_url("s3://bucket/a.png"), is_url("file:///tmp/a.png"), is_url("/tmp/a.png"), is_url("C:/a.png")
    (True, True, False, False)
    """
    from fsspec.core import split_protocol

    protocol, _ = split_protocol(os.fspath(path) if isinstance(path, os.PathLike) else str(path))
    return protocol is not None
