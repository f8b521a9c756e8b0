"""Training behaviour as small composable pieces (in the spirit of skorch's callbacks).

The protocol is public: subclass :class:`Callback`, override the hooks you
need and pass instances as ``FineTuneClassifier(callbacks=[...])``; they run
after the built-in ones, on a fresh copy for every ``fit``. Ready-made:
:class:`Checkpoint`, :class:`LRScheduler` (any ``torch.optim.lr_scheduler``),
:class:`PrintLog` (what ``verbose=1`` adds), :class:`FreezeBlocks` (the lowest blocks never train). The built-in ones:
:class:`LRSchedule`, :class:`BatchNormPolicy`, :class:`EarlyStopping`,
:class:`TerminateOnNaN`, :class:`StopAfter`; and :class:`TimeLimit`, which the auto search gives
each fine-tuning contender.
"""

from ._base import HOOKS, Callback, TrainState
from ._logging import Checkpoint, PrintLog
from ._lr_scheduler import LRSchedule, LRScheduler
from ._training import BatchNormPolicy, EarlyStopping, FreezeBlocks, StopAfter, TerminateOnNaN, TimeLimit

# isort: split
# Shared with hybridtl's other packages; not part of the documented API.
from ._base import CallbackList as CallbackList, cpu_copy as cpu_copy, fresh_copies as fresh_copies
from ._lr_scheduler import scale_rates as scale_rates

for _public in (Callback, TrainState, Checkpoint, PrintLog, LRSchedule, LRScheduler, BatchNormPolicy,
                EarlyStopping, FreezeBlocks, StopAfter, TerminateOnNaN, TimeLimit):
    _public.__module__ = __name__  # saved files and pickles name the public home, not the private module
del _public

__all__ = ["HOOKS", "BatchNormPolicy", "Callback", "Checkpoint", "EarlyStopping", "FreezeBlocks", "LRSchedule",
           "LRScheduler", "PrintLog", "StopAfter", "TerminateOnNaN", "TimeLimit", "TrainState"]
