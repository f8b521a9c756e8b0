"""Images in: decoding files, image folders, image sets in batches, the preprocessing a backbone expects,
and the small real data sets that ship with installed packages.

Accepted input (``X`` everywhere in hybridtl): a numpy array ``(n, h, w)`` or
``(n, h, w, c)`` with ``c`` in 1, 3, 4; a torch tensor ``(n, c, h, w)``; or a
list (tuple, 1-d object array, pandas Series) of arrays, tensors, PIL images
or image file paths, which may differ in size. See :func:`as_image_set`.
"""

from ._data import Dataset, load_data
from ._datasets import load_digits_images
from ._decoding import MAX_PIXELS, ImageReadError, read_image
from ._folders import IMAGE_EXTENSIONS, list_images, load_image_folder
from ._preprocess import Preprocess
from ._readable import SkippedImagesWarning, find_unreadable
from ._sets import as_image_set

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._data import drop_unreadable as drop_unreadable, subset as subset
from ._decoded import decoded_once as decoded_once, decoded_or_unreadable as decoded_or_unreadable
from ._decoding import as_float as as_float, decode_pil as decode_pil, open_pixels as open_pixels
from ._folders import class_folders as class_folders, is_hidden as is_hidden
from ._readable import (
    decoded_readable_part as decoded_readable_part,
    display_image as display_image,
    probe_side as probe_side,
    readable_part as readable_part,
    rows_for_readable as rows_for_readable,
    warn_skipped as warn_skipped,
)
from ._sets import DenseImages as DenseImages, ImageList as ImageList
from ._store import decoded_store as decoded_store, file_identity as file_identity
from ._workers import decoding as decoding

for _public in (Dataset, Preprocess, SkippedImagesWarning, ImageReadError):
    _public.__module__ = __name__  # saved files and pickles name the public home, not the private module
del _public

__all__ = [
    "IMAGE_EXTENSIONS", "MAX_PIXELS", "Dataset", "ImageReadError", "Preprocess", "SkippedImagesWarning",
    "as_image_set", "find_unreadable", "list_images", "load_data", "load_digits_images", "load_image_folder",
    "read_image",
]
