"""The ensemble contender: soft voting of two fitted models, kept as scikit-learn's own types."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import VotingClassifier
from sklearn.frozen import FrozenEstimator

__all__ = ["soft_vote"]


def soft_vote(members, X, y):
    """A ``VotingClassifier`` averaging the probabilities of fitted ``members`` ((name, model) pairs), unrefitted.

    ``FrozenEstimator`` keeps each member as it was fitted; ``fit`` only records the classes.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> X, y = np.eye(4), [0, 1, 0, 1]
    >>> vote = soft_vote([("a", LogisticRegression().fit(X, y)), ("b", LogisticRegression(C=9).fit(X, y))], X, y)
    >>> vote.predict(X).tolist()
    [0, 1, 0, 1]
    """
    frozen = [(name, FrozenEstimator(model)) for name, model in members]
    return VotingClassifier(frozen, voting="soft").fit(X, np.asarray(y))
