"""The leaderboard: one row per contender, filled as the search runs and shown as it fills."""

from __future__ import annotations

import math

import pandas as pd

__all__ = ["COLUMNS", "STATUSES", "Leaderboard"]

COLUMNS = ["contender", "kind", "score_mean", "score_sd", "validation", "holdout_score", "epochs", "seconds",
           "status", "winner", "reason"]
# "done": scored; "stopped early": fell behind in successive halving, or the time ran out during its fit;
# "skipped": never started, for lack of time or because it does not suit the data; "failed": it raised
STATUSES = ("done", "stopped early", "skipped", "failed", "interrupted")


class Leaderboard:
    """Rows by contender name; :meth:`frame` is ``AutoClassifier.leaderboard_``.

    Examples
    --------
    >>> board = Leaderboard(["a", "b"], {"a": "baseline", "b": "hybrid"})
    >>> board.update("a", status="done", score_mean=0.9, score_sd=0.01, seconds=1.5)
    >>> board.frame()[["contender", "status"]].values.tolist()
    [['a', 'done'], ['b', 'skipped']]
    """

    def __init__(self, names, kinds):
        self.rows = {name: {"contender": name, "kind": kinds[name], "score_mean": math.nan, "score_sd": math.nan,
                            "validation": "", "holdout_score": math.nan, "epochs": math.nan, "seconds": 0.0,
                            "status": "skipped", "winner": False, "reason": "not reached"} for name in names}

    def update(self, name, **values):
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise KeyError(f"not leaderboard columns: {sorted(unknown)}")
        self.rows[name].update(values)

    def add_seconds(self, name, seconds):
        self.rows[name]["seconds"] += seconds

    def mark_unfinished(self, status, reason):
        """Give ``status`` and ``reason`` to every row not yet scored or failed."""
        for row in self.rows.values():
            if row["status"] == "skipped" and row["reason"] == "not reached":
                row.update(status=status, reason=reason)

    def frame(self):
        """The table: the winner first, then the scored rows by mean score, then the rest in their order."""
        table = pd.DataFrame(list(self.rows.values()), columns=COLUMNS)
        score = table["score_mean"].fillna(-math.inf).where(~table["winner"], math.inf)
        order = score.rank(method="first", ascending=False)
        return table.assign(_order=order).sort_values("_order").drop(columns="_order").reset_index(drop=True)

    def line(self, name):
        """One row as a line, for the progress display."""
        row = self.rows[name]
        score = "" if math.isnan(row["score_mean"]) else f"{row['score_mean']:.4f}"
        if not math.isnan(row["score_sd"]):
            score += f" ± {row['score_sd']:.4f}"
        epochs = "" if math.isnan(row["epochs"]) else f", {int(row['epochs'])} epochs"
        reason = f" ({row['reason']})" if row["reason"] else ""
        return f"{name:<22} {score:<17} {row['seconds']:7.1f} s{epochs}  {row['status']}{reason}"
