"""Hybrid: frozen EfficientNet-Lite0 ImageNet features, L2-normalised, then an RBF SVM (calibrated probabilities)."""

from hybridtl.recipes import hybrid_builder

KIND = "hybrid"
GRID = {"head__estimator__C": [1.0, 10.0, 100.0]}
build = hybrid_builder("svm")
