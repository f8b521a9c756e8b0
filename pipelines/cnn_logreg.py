"""Hybrid: frozen EfficientNet-Lite0 ImageNet features, L2-normalised, then logistic regression."""

from hybridtl.recipes import hybrid_builder

KIND = "hybrid"
GRID = {"head__C": [1.0, 10.0, 100.0]}
build = hybrid_builder("logreg")
