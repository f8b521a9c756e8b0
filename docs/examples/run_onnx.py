"""Run a model exported by `hybridtl export` with onnxruntime, numpy and Pillow only.

    python run_onnx.py model.onnx photo.jpg [more photos ...]

prints one JSON line per photo: its label and the probability of each class.
"""
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps


def read(path, side):
    """RGB pixels as hybridtl reads a file: a JPEG at its smallest scale still `side` or more, others box-reduced."""
    with Image.open(path) as image:
        if side:
            image.draft(image.mode, (side, side))
            factor = min(image.size) // (2 * side)
            if factor >= 2 and image.mode in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"):
                image = image.reduce(factor)
        image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I"):  # 16-bit: scaled by 65535 as hybridtl does, then to 8 bits
            return np.repeat(np.round(np.asarray(image, np.float64) / 257).astype(np.uint8)[..., None], 3, -1)
        return np.asarray(image.convert("RGB"))


if __name__ == "__main__":
    session = ort.InferenceSession(sys.argv[1])
    meta = session.get_modelmeta().custom_metadata_map
    classes, side = json.loads(meta["classes"]), int(meta["decode_side"])
    for path in sys.argv[2:]:
        probabilities, label = session.run(None, {"pixels": read(path, side)[None]})
        print(json.dumps({"path": path, "label": classes[label[0]], "probabilities": probabilities[0].tolist()}))
