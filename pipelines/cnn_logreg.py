"""Hybrid: frozen EfficientNet-Lite0 ImageNet features, then logistic regression."""

from hybridtl.recipes import hybrid_builder

KIND = "hybrid"
GRID = {"head__C": [0.01, 0.1, 1.0]}
build = hybrid_builder("logreg")
