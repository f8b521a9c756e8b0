"""Every option list in hybridtl, each defined once.

The estimators' constraints (:mod:`hybridtl.core._validation`) and the command
line's choices both read them from here, so a list never drifts between its
uses; this module imports nothing, so the command line can check its
arguments before it imports torch.
"""

__all__ = [
    "AUGMENTS", "BN_POLICIES", "DECODES", "DEVICES", "GRID_MODES", "HEADS", "LR_SCHEDULES", "ON_ERROR", "OPTIMIZERS",
    "POOLINGS", "PRECISIONS", "RUNTIMES", "SCORINGS", "STEP_EVERY", "STRATEGIES",
]

# fine-tuning (hybridtl.finetune)
STRATEGIES = ("head", "full", "gradual", "two_stage", "scratch")
OPTIMIZERS = ("adam", "adamax", "adamw", "sgd")
LR_SCHEDULES = ("cosine", "step", "none")
BN_POLICIES = ("frozen", "trainable", "train")
# augmentation strengths; True means "flip", False none
AUGMENTS = ("flip", "light", "strong")
# when a torch learning-rate scheduler steps (hybridtl.callbacks.LRScheduler)
STEP_EVERY = ("epoch", "batch")

# feature extraction (hybridtl.features)
POOLINGS = ("avg", "max", "gem", "avgmax")
RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
PRECISIONS = ("fp32", "bf16", "int8")

# heads (hybridtl.heads)
HEADS = ("logreg", "svm", "xgboost")

# every estimator that reads images
DEVICES = ("auto", "cpu", "cuda")
ON_ERROR = ("raise", "skip")
# how image files are decoded: "fast" at the size the preprocessing resizes to, "exact" every pixel
DECODES = ("fast", "exact")

# the side-by-side benchmark: whose GRID is tuned (hybridtl.evaluation.run_benchmark)
GRID_MODES = ("auto", "all", "none")

# what the auto search picks the winner by (hybridtl.auto.AutoClassifier): scikit-learn scorer names, higher is better
SCORINGS = ("accuracy", "balanced_accuracy", "f1_macro", "neg_log_loss")
