"""An HTTP service for a model exported by `hybridtl export`: FastAPI, onnxruntime, numpy and Pillow.

    MODEL=model.onnx uvicorn serve_onnx:app --port 8000
    curl --data-binary @photo.jpg localhost:8000/predict

Requests that arrive together are answered by one call of the model: each waits up to 5 ms for others,
and images of one size go through in one batch (the graph takes one size per call).
"""
import asyncio
import io
import json
import os
from collections import defaultdict

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request
from PIL import Image, ImageOps

session = ort.InferenceSession(os.environ["MODEL"])
classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
app, waiting = FastAPI(), []


def run(batch):
    groups = defaultdict(list)  # image shape -> (position, pixels)
    for i, (pixels, _) in enumerate(batch):
        groups[pixels.shape].append((i, pixels))
    answers = [None] * len(batch)
    for group in groups.values():
        probabilities, labels = session.run(None, {"pixels": np.stack([p for _, p in group])})
        for (i, _), probs, label in zip(group, probabilities, labels):
            answers[i] = {"label": classes[label], "probabilities": probs.tolist()}
    return answers


@app.post("/predict")
async def predict(request: Request):
    image = Image.open(io.BytesIO(await request.body()))
    done = asyncio.get_running_loop().create_future()
    waiting.append((np.asarray(ImageOps.exif_transpose(image).convert("RGB")), done))
    if len(waiting) == 1:  # the first of a batch collects the others for 5 ms, then runs them all
        await asyncio.sleep(0.005)
        batch = waiting[:]
        waiting.clear()
        for (_, future), answer in zip(batch, await asyncio.to_thread(run, batch)):
            future.set_result(answer)
    return await done
