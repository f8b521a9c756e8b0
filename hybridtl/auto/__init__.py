"""The best model for the user's images within a time budget: :class:`AutoClassifier`, its leaderboard and its
successive halving of the fine-tuning strategies."""

from ._estimator import AUTO_RECIPES, AutoClassifier
from ._halving import rungs
from ._leaderboard import COLUMNS, STATUSES, leaderboard_text

AutoClassifier.__module__ = __name__  # saved files and pickles name the public home, not the private module

__all__ = ["AUTO_RECIPES", "COLUMNS", "STATUSES", "AutoClassifier", "leaderboard_text", "rungs"]
