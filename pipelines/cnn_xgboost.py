"""Hybrid: frozen EfficientNet-Lite0 ImageNet features, then XGBoost (on the GPU when the extractor is)."""

from hybridtl.recipes import hybrid_builder

KIND = "hybrid"
GRID = {"head__n_estimators": [200, 400], "head__max_depth": [3, 6]}
build = hybrid_builder("xgboost")
