import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

session = ort.InferenceSession(sys.argv[1])  # model.onnx
classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
pixels = np.asarray(ImageOps.exif_transpose(Image.open(sys.argv[2])).convert("RGB"))  # photo.jpg
probabilities, label = session.run(None, {"pixels": pixels[None]})
print(classes[label[0]], probabilities[0].round(3).tolist())
