"""The leaderboard: one row per contender, filled as the search runs and shown as it fills."""

from __future__ import annotations

import math
import textwrap

import pandas as pd

__all__ = ["COLUMNS", "STATUSES", "Leaderboard", "leaderboard_text"]

COLUMNS = ["contender", "kind", "score_mean", "score_sd", "validation", "holdout_score", "epochs", "seconds",
           "priced_s_epoch", "s_epoch", "status", "winner", "reason"]
# "done": scored; "stopped early": fell behind in successive halving, or the time ran out during its fit;
# "skipped": never started, for lack of time or because it does not suit the data; "failed": it raised
STATUSES = ("done", "stopped early", "skipped", "failed", "interrupted")
# the widest line printed (progress rows, the leaderboard table, the reasons)
LINE_WIDTH = 120


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
                            "priced_s_epoch": math.nan, "s_epoch": math.nan, "status": "skipped", "winner": False,
                            "reason": "not reached"} for name in names}

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
        """One row as a line, for the progress display (wrapped at 120 columns, the reason indented)."""
        row = self.rows[name]
        score = "" if math.isnan(row["score_mean"]) else f"{row['score_mean']:.4f}"
        if not math.isnan(row["score_sd"]):
            score += f" ± {row['score_sd']:.4f}"
        epochs = "" if math.isnan(row["epochs"]) else f", {int(row['epochs'])} epochs"
        reason = f" ({row['reason']})" if row["reason"] else ""
        text = f"{name:<22} {score:<17} {row['seconds']:7.1f} s{epochs}  {row['status']}{reason}"
        return "\n".join(textwrap.wrap(text, LINE_WIDTH, subsequent_indent=" " * 23, break_long_words=True))


def leaderboard_text(frame, width=LINE_WIDTH):
    """``leaderboard_`` for printing, no line wider than ``width``: a markdown table, then each reason wrapped.

    The winner is marked with a star; score and spread share a column; seconds per epoch are shown
    as measured (priced); the kind is left out (the recipe's name says it). The reasons follow the
    table, one paragraph per contender, wrapped. The full table is ``leaderboard_`` and the model card's.

    Examples
    --------
    >>> board = Leaderboard(["finetune_full"], {"finetune_full": "finetune"})
    >>> board.update("finetune_full", status="done", score_mean=0.9, score_sd=0.01, seconds=12.0, epochs=4,
    ...              priced_s_epoch=2.5, s_epoch=3.0, reason="because " * 40)
    >>> text = leaderboard_text(board.frame())
    >>> max(len(line) for line in text.splitlines()) <= 120, "3.0 (2.5)" in text, text.count("because")
    (True, True, 40)
    """
    def number(value, digits):
        return "" if pd.isna(value) else f"{value:.{digits}f}"

    nan = pd.Series(math.nan, frame.index)
    table = pd.DataFrame({
        "contender": frame["contender"] + frame["winner"].map({True: " *", False: ""}),
        "score": [number(m, 4) + ("" if pd.isna(sd) else f" ± {sd:.4f}")
                  for m, sd in zip(frame["score_mean"], frame["score_sd"])],
        "holdout": frame["holdout_score"].map(lambda v: number(v, 4)),
        "epochs": frame["epochs"].map(lambda v: number(v, 0)),
        "seconds": frame["seconds"].map(lambda v: number(v, 1)),
        "s/epoch (priced)": [number(m, 1) + ("" if pd.isna(p) else f" ({p:.1f})")
                             for m, p in zip(frame.get("s_epoch", nan), frame.get("priced_s_epoch", nan))],
        "status": frame["status"],
    })
    lines = [table.to_markdown(index=False, disable_numparse=True), ""]
    for name, reason in zip(frame["contender"], frame["reason"].fillna("")):
        if reason:
            lines += textwrap.wrap(f"{name}: {reason}", width, subsequent_indent="    ", break_long_words=True)
    return "\n".join(lines).rstrip()
