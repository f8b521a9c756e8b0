"""Baseline without transfer: raw gray pixels (16x16), scaled, then logistic regression."""

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from hybridtl.features import PixelFeatures

KIND = "baseline"
GRID = {"head__C": [0.01, 0.1, 1.0]}


def build(random_state=0, decode="fast", **_):
    return Pipeline([("pixels", PixelFeatures(image_size=16, decode=decode)), ("scale", StandardScaler()),
                     ("head", LogisticRegression(max_iter=2000, random_state=random_state))])
