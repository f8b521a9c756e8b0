"""One reader for every image file: decoded by PIL at the size the model needs, oriented, 8-bit kept 8-bit.

PIL reads every format hybridtl accepts, but ``Image.convert("RGB")`` is only
right for 8-bit modes: it clips 16-bit modes (``I;16``, ``I``) to 255 and
truncates float images (``F``) to 0 or 1. This module therefore converts the
8-bit modes with PIL (and keeps them as uint8 pixels, resized and cropped as
such until the network's input) and scales the others by their dtype's range
itself to float32 (16-bit by 65535; floats are taken as [0, 1], as arrays are).
Orientation comes from ``ImageOps.exif_transpose`` (PIL's own EXIF handling)
and an animated file gives its first frame. A decompression bomb is refused
from the header alone, before any pixels are allocated.

Given ``min_side`` (the shorter side the preprocessing resizes to), a large
file is decoded small: a JPEG through libjpeg's own DCT-domain scaling
(``Image.draft``: the decoder itself produces 1/2, 1/4 or 1/8 of the size,
the smallest scale whose shorter side is still at least ``min_side``), other
formats decoded whole, then box-reduced by a whole factor that leaves at least
twice ``min_side`` (``Image.reduce``, as PIL's own ``reducing_gap``). The
exact antialiased resize that follows therefore still only shrinks. A 12-MP
phone JPEG decodes about ten times faster this way (``benchmarks/photo_folder.py``).

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

import functools
import os
import struct

import numpy as np
import torch

__all__ = ["MAX_PIXELS", "ImageReadError", "as_float", "decode_pil", "open_pixels", "read_image"]

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


def as_float(pixels):
    """Pixels (uint8 0-255 or float 0-1) -> float32 in [0, 1], any leading dimensions, in the standard
    (contiguous) layout: torch's float antialiased resize runs 1.5x slower on a channels-last view."""
    if pixels.dtype == torch.uint8:
        return pixels.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)
    return pixels.to(torch.float32, memory_format=torch.contiguous_format)


def decode_pil(image, where="image"):
    """A PIL image of any mode -> tensor (3, h, w), EXIF orientation applied: uint8 for the 8-bit modes,
    float32 in [0, 1] for the 16-bit, 32-bit integer and float modes.

    Alpha is dropped (as for arrays); palette images with transparency go
    through RGBA first, as PIL recommends.
    """
    from PIL import ImageOps

    # No warnings.catch_warnings here: files are decoded in threads, and it swaps the process's filters.
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # as PIL recommends; converting straight to RGB warns
    image = ImageOps.exif_transpose(image)
    if image.mode in _EIGHT_BIT:
        array = np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy torch may own
        # a channels-last view, not a copy: torch's uint8 antialiased resize reads it 1.9x faster than the
        # planar copy (0.17 against 0.32 ms for a 448x336 photo, plus 0.12 ms for the copy), same pixels out
        return torch.from_numpy(array).permute(2, 0, 1)
    if image.mode in _SIXTEEN_BIT + ("I", "F"):
        gray = torch.from_numpy(_scaled(np.asarray(image), image.mode, where))
        return gray.expand(3, *gray.shape).contiguous()
    raise ImageReadError(f"{where}: unsupported PIL mode {image.mode!r}")


@functools.cache
def _register_heif():
    """HEIC/HEIF (iPhones' default) through the pillow-heif plugin, a dependency; AVIF is Pillow's own."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # installed without its dependencies: HEIC files then fail with a message naming it
        return False
    register_heif_opener()
    return True


def _unreadable(where, path):
    suffix = os.path.splitext(os.fspath(path))[1].lower() if isinstance(path, (str, os.PathLike)) else ""
    if suffix in (".heic", ".heif") and not _register_heif():
        return f"{where}: HEIC/HEIF needs the pillow-heif plugin: pip install pillow-heif"
    return (f"{where}: not an image file PIL can read (accepted: PNG, JPEG, HEIC, AVIF, BMP, GIF, TIFF, WebP, "
            "...)")


# Image.reduce takes these modes (16-bit files read as "I" too); palette, 1-bit and "I;16" stay at full size.
_REDUCIBLE = ("L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F")


def _decode_small(image, min_side):
    """Ask the JPEG decoder for its smallest DCT scale whose shorter side stays >= ``min_side``.

    PIL's ``draft`` picks the largest of 1/8, 1/4, 1/2 that keeps both sides at
    least the size asked for; asking for ``min_side`` on both keeps the shorter
    side (which EXIF rotation does not change) at least ``min_side``.
    """
    if image.format == "JPEG":
        image.draft(image.mode, (min_side, min_side))


def _reduce(image, min_side):
    """Box-reduce a decoded image by the whole factor that leaves at least ``2 * min_side`` on the shorter side."""
    factor = min(image.size) // (2 * min_side)
    if factor >= 2 and image.mode in _REDUCIBLE:
        return image.reduce(factor)
    return image


def open_pixels(path, where=None, min_side=None):
    """Decode one image file to a tensor (3, h, w): uint8 for 8-bit files, float32 in [0, 1] for the others.

    With ``min_side``, a file larger than needed is decoded small (JPEG DCT scaling,
    else a whole-factor reduction), its shorter side never below ``min_side``.
    Raises :class:`ImageReadError` as :func:`read_image` does.
    """
    from PIL import Image, UnidentifiedImageError

    where = where or f"image {os.fspath(path)}"
    _register_heif()
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(f"{where}: {width}x{height} pixels is over the limit of {MAX_PIXELS} "
                                     "(a decompression bomb?); resize it first")
            image.seek(0)  # animated files: the first frame
            if min_side:
                _decode_small(image, int(min_side))
            image.load()
            return decode_pil(_reduce(image, int(min_side)) if min_side else image, where)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError(f"{where}: file not found") from None
    except IsADirectoryError:
        raise ImageReadError(f"{where}: is a folder, not an image file") from None
    except UnidentifiedImageError:
        raise ImageReadError(_unreadable(where, path)) from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{where}: refused as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error, MemoryError) as exc:
        # PIL's decoders raise any of these on damaged files; each is a bad file, not a bug here.
        raise ImageReadError(f"{where}: corrupt or truncated image ({type(exc).__name__}: {exc})") from None


def read_image(path, where=None, min_side=None):
    """Decode one image file to a float32 tensor (3, h, w) in [0, 1].

    EXIF orientation is applied, 16-bit files are scaled by 65535, palette, CMYK,
    gray and RGBA images become RGB, and an animated file gives its first frame.

    Parameters
    ----------
    path : str, Path or file object
    where : str, optional
        How messages name the image (default: ``"image PATH"``).
    min_side : int, optional
        Decode a larger file small, its shorter side still at least this many
        pixels (what ``decode="fast"`` does); None decodes every pixel.

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
    >>> Image.new("RGB", (4000, 3000)).save(path[:-3] + "jpg")
    >>> tuple(read_image(path[:-3] + "jpg", min_side=256).shape)  # libjpeg's 1/8 scale
    (3, 375, 500)
    """
    return as_float(open_pixels(path, where, min_side))
