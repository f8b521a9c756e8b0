"""``python -m hybridtl.demo``: the hybrid heads on scikit-learn's real handwritten digits.

Every head sits in its own Pipeline behind the embedded EfficientNet-Lite0
(ImageNet weights, no download); the digits are upsampled to 64 px.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from sklearn.model_selection import train_test_split

from .datasets import load_digits_images
from .heads import HEADS, make_hybrid_pipeline


def run(image_size=64, test_size=0.2, random_state=0, heads=HEADS):
    X, y = load_digits_images()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    rows = []
    for head in heads:
        pipe = make_hybrid_pipeline(head, image_size=image_size, random_state=random_state)
        start = time.perf_counter()
        pipe.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = float((pipe.predict(X_test) == y_test).mean())
        predict_s = time.perf_counter() - start
        rows.append({"head": head, "accuracy": round(accuracy, 4), "fit_s": round(fit_s, 1), "predict_s": round(predict_s, 1)})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    args = parser.parse_args(argv)
    print(f"digits: 1,797 real 8x8 handwritten digits, 80/20 stratified split, upsampled to {args.image_size} px")
    print(run(image_size=args.image_size).to_string(index=False))


if __name__ == "__main__":
    main()
