"""The protocols of the studies hybridtl grew from, each a few lines of hybridtl, side by side on one split.

* VGG11 fine-tuned by gradual unfreezing with Adamax;
* VGG16 with the new layer trained first, then everything at a tenth of the rate (two stages);
* ResNet-18 with the new layer at 10x the rate, against the same network trained from scratch;
* AlexNet's frozen features with XGBoost, beside AlexNet fine-tuned.

With a network, ``--weights imagenet`` downloads the torchvision ImageNet weights once into the
torch hub cache (about 1.3 GB for the four networks); ``--weights none`` runs the same code path
from random weights, as the test suite does on small images.

    python docs/examples/seed_protocols.py my_images/ --image-size 224 --epochs 10
    python docs/examples/seed_protocols.py digits --weights none --image-size 64 --epochs 1 --limit-per-class 8
"""

import argparse
import time

import pandas as pd
from sklearn.model_selection import train_test_split

from hybridtl.finetune import FineTuneClassifier
from hybridtl.heads import make_hybrid_pipeline
from hybridtl.images import load_data


def protocols(weights="imagenet", image_size=224, epochs=10, progress=False):
    """Name -> unfitted estimator, for each protocol."""
    common = {"weights": weights, "image_size": image_size, "epochs": epochs, "progress": progress,
              "random_state": 0}
    return {
        "vgg11 gradual, Adamax": FineTuneClassifier(backbone="torchvision:vgg11", strategy="gradual",
                                                    optimizer="adamax", lr=1e-3, **common),
        "vgg16 head first, then all at lr/10": FineTuneClassifier(backbone="torchvision:vgg16", strategy="two_stage",
                                                                  head_epochs=3, lr=1e-3, finetune_lr_mult=0.1,
                                                                  **common),
        "resnet18 new layer at 10x": FineTuneClassifier(backbone="torchvision:resnet18", strategy="full", lr=3e-4,
                                                        head_lr_mult=10.0, **common),
        "resnet18 from scratch": FineTuneClassifier(backbone="torchvision:resnet18", strategy="scratch", lr=1e-3,
                                                    **{**common, "weights": None}),
        "alexnet features + xgboost": make_hybrid_pipeline("xgboost", backbone="torchvision:alexnet", weights=weights,
                                                           image_size=image_size, progress=progress),
        "alexnet fine-tuned": FineTuneClassifier(backbone="torchvision:alexnet", strategy="full", lr=3e-4, **common),
    }


def run(estimators, X_train, y_train, X_test, y_test):
    """Fit each estimator on the training part; its test accuracy and fit seconds, one row each."""
    rows = []
    for name, estimator in estimators.items():
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        rows.append({"protocol": name, "test_accuracy": estimator.score(X_test, y_test), "fit_seconds": seconds})
    return pd.DataFrame(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="an image folder (one subfolder per class), a CSV, or 'digits'")
    parser.add_argument("--weights", default="imagenet", help="'imagenet' or 'none'")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--limit-per-class", type=int, default=None)
    args = parser.parse_args(argv)
    data = load_data(args.data, args.limit_per_class)
    X_train, X_test, y_train, y_test = train_test_split(data.X, data.y, test_size=0.25, stratify=data.y,
                                                        random_state=0)
    weights = None if args.weights == "none" else args.weights
    table = run(protocols(weights, args.image_size, args.epochs), X_train, y_train, X_test, y_test)
    print(table.round(3).to_markdown(index=False))
    return table


if __name__ == "__main__":
    main()
