"""Fine-tuning: the scikit-learn classifier that replaces a CNN's last layer and trains it, the trainer whose
one ``notify`` drives every callback, the strategies, the learning-rate range test, and training across
processes under torchrun."""

from ..core import AUGMENTS, OPTIMIZERS, STRATEGIES
from ._distributed import is_main_process
from ._estimator import FineTuneClassifier
from ._lr_finder import suggest_lr
from ._strategies import STRATEGY_DEFAULTS, Strategy, make_strategy

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._distributed import (
    AgreeOnStop as AgreeOnStop,
    Distributed as Distributed,
    DistributedTrainer as DistributedTrainer,
    current_process_group as current_process_group,
)
from ._estimator import planned_preprocess as planned_preprocess
from ._lr_finder import lr_range_test as lr_range_test
from ._optimizers import make_optimizer as make_optimizer
from ._plots import plot_history as plot_history, plot_lr_find as plot_lr_find
from ._runs import epoch_shares as epoch_shares
from ._steps import (
    evaluate as evaluate,
    predict_proba as predict_proba,
    run_epoch as run_epoch,
    seed_from as seed_from,
    seeded as seeded,
    train_step as train_step,
)
from ._strategies import STRATEGY_CLASSES as STRATEGY_CLASSES, with_strategy_defaults as with_strategy_defaults
from ._trainer import Trainer as Trainer, TrainingRun as TrainingRun

for _public in (FineTuneClassifier, Trainer, TrainingRun, DistributedTrainer, Strategy):
    _public.__module__ = __name__  # saved files and pickles name the public home, not the private module
del _public

__all__ = ["AUGMENTS", "OPTIMIZERS", "STRATEGIES", "STRATEGY_DEFAULTS", "FineTuneClassifier", "Strategy",
           "is_main_process", "make_strategy", "suggest_lr"]
