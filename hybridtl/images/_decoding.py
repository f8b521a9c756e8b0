"""One reader for every image file: decoded by PIL, oriented, scaled to [0, 1] by its own range.

PIL reads every format hybridtl accepts, but ``Image.convert("RGB")`` is only
right for 8-bit modes: it clips 16-bit modes (``I;16``, ``I``) to 255 and
truncates float images (``F``) to 0 or 1. This module therefore converts the
8-bit modes with PIL and scales the others by their dtype's range itself
(16-bit by 65535; floats are taken as [0, 1], as arrays are). Orientation
comes from ``ImageOps.exif_transpose`` (PIL's own EXIF handling) and an
animated file gives its first frame. A decompression bomb is refused from the
header alone, before any pixels are allocated.

Examples
--------
>>> import tempfile, numpy as np
>>> from PIL import Image
>>> path = tempfile.mkdtemp() + "/deep.png"
>>> Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(path)
>>> read_image(path).amax().item()
1.0
"""

from __future__ import annotations

import os
import struct
import warnings

import numpy as np
import torch

__all__ = ["MAX_PIXELS", "ImageReadError", "decode_pil", "read_image"]

# PIL's own decompression-bomb limit (about 89 megapixels), checked from the header.
MAX_PIXELS = 89_478_485

_EIGHT_BIT = ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV")
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(ValueError):
    """An image file could not be read; the message names the file and the reason.

    Examples
    --------
    >>> try:
    ...     read_image("no/such/photo.jpg")
    ... except ImageReadError as error:
    ...     print(error)
    image no/such/photo.jpg: file not found
    """


def _scaled(array, mode, where):
    """A 1-channel array of a 16-bit, 32-bit integer or float mode -> float32 in [0, 1]."""
    if mode in _SIXTEEN_BIT:
        return array.astype(np.float32) / 65535.0
    if mode == "I":  # 32-bit integers; PIL reads 16-bit PNG and TIFF files in this mode
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise ImageReadError(f"{where}: 32-bit integer pixels in [{low}, {high}]; accepted: 0-65535 (16-bit)")
        return array.astype(np.float32) / 65535.0
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise ImageReadError(f"{where}: float pixels must be finite and lie in [0, 1] "
                             f"(found [{np.nanmin(array)}, {np.nanmax(array)}])")
    return array


def decode_pil(image, where="image"):
    """A PIL image of any mode -> float32 tensor (3, h, w) in [0, 1], EXIF orientation applied.

    Alpha is dropped (as for arrays); palette images with transparency go
    through RGBA first, as PIL recommends.
    """
    from PIL import ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Palette images with Transparency ..." is handled below
        image = ImageOps.exif_transpose(image)
        if image.mode in _EIGHT_BIT:
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
            return torch.from_numpy(array).permute(2, 0, 1).contiguous()
    if image.mode in _SIXTEEN_BIT + ("I", "F"):
        gray = torch.from_numpy(_scaled(np.asarray(image), image.mode, where))
        return gray.expand(3, *gray.shape).contiguous()
    raise ImageReadError(f"{where}: unsupported PIL mode {image.mode!r}")


def read_image(path, where=None):
    """Decode one image file to a float32 tensor (3, h, w) in [0, 1].

    EXIF orientation is applied, 16-bit files are scaled by 65535, palette, CMYK,
    gray and RGBA images become RGB, and an animated file gives its first frame.

    Parameters
    ----------
    path : str, Path or file object
    where : str, optional
        How messages name the image (default: ``"image PATH"``).

    Returns
    -------
    torch.Tensor of float32, shape (3, h, w)

    Raises
    ------
    ImageReadError
        (a ``ValueError``) naming ``path``: missing, not an image, corrupt or
        truncated, or larger than :data:`MAX_PIXELS` (a decompression bomb).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> path = tempfile.mkdtemp() + "/deep.png"
    >>> Image.fromarray(np.full((4, 6), 65535, np.uint16)).save(path)
    >>> image = read_image(path)
    >>> tuple(image.shape), image.amax().item()
    ((3, 4, 6), 1.0)
    """
    from PIL import Image, UnidentifiedImageError

    where = where or f"image {os.fspath(path)}"
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(f"{where}: {width}x{height} pixels is over the limit of {MAX_PIXELS} "
                                     "(a decompression bomb?); resize it first")
            image.seek(0)  # animated files: the first frame
            image.load()
            return decode_pil(image, where)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise ImageReadError(f"{where}: is a folder, not an image file") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{where}: not an image file PIL can read (accepted: PNG, JPEG, BMP, GIF, TIFF, "
                             "WebP, ...)") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{where}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, MemoryError) as exc:
        # PIL's decoders raise any of these on damaged files; each is a bad file, not a bug here.
        raise ImageReadError(f"{where}: corrupt or truncated image ({type(exc).__name__}: {exc})") from None

