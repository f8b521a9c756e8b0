"""Hybrid: frozen EfficientNet-Lite0 ImageNet features, then an RBF SVM (calibrated probabilities)."""

from hybridtl.recipes import hybrid_builder

KIND = "hybrid"
GRID = {"head__estimator__C": [0.1, 1.0, 10.0]}
build = hybrid_builder("svm")
