"""The command line's auto search, its budget option, the model card and ``hybridtl info``."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hybridtl.cli import main
from tests.test_cli import TINY, folder  # noqa: F401 - the image-folder fixture, shared

DATA = Path(__file__).parent / "data"


def test_fit_auto_prints_the_leaderboard_saves_the_winner_and_its_card(folder, tmp_path, capsys):  # noqa: F811
    """With progress on and the output not a terminal (a log): no carriage-return redraws, no line over 120."""
    model = tmp_path / "auto.hybridtl"
    with_progress = [arg for arg in TINY if arg != "--no-progress"]
    argv = ["fit", str(folder), "--recipe", "auto", "--time-budget", "45s", "--out", str(model), *with_progress]
    assert main(argv) == 0
    printed, log = capsys.readouterr()
    assert "\r" not in printed + log
    assert max(len(line) for line in printed.splitlines() if str(model) not in line) <= 120  # but a long --out
    assert "| contender" in printed and "pixels_logreg" in printed and "winner:" in printed
    assert main(["info", str(model)]) == 0
    card = capsys.readouterr().out
    board = card[card.index("\nleaderboard\n"):]
    assert "| contender" in board and max(len(line) for line in board.splitlines()) <= 120
    assert "auto         winner" in card and "classes      3: one (12), two (12), zero (12)" in card
    assert "leaderboard" in card and "validation   accuracy" in card
    assert main(["info", str(model), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["auto"]["time_budget_seconds"] == 45 and data["leaderboard"]
    assert main(["predict", str(model), str(folder), "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 36


def test_a_recipe_fit_writes_a_card_with_cross_validated_metrics(folder, tmp_path, capsys):  # noqa: F811
    model = tmp_path / "pixels.hybridtl"
    assert main(["fit", str(folder), "--recipe", "pixels_logreg", "--out", str(model), *TINY]) == 0
    capsys.readouterr()
    assert main(["info", str(model), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["recipe"]["name"] == "pixels_logreg" and card["classes"][0] == {"class": "one", "count": 12}
    assert set(card["validation"]) >= {"accuracy", "macro_f1", "expected_calibration_error", "source"}
    assert "cross-validation" in card["validation"]["source"]


def test_info_reads_no_torch_and_says_when_a_file_has_no_card(capsys):
    code = ("import sys; from hybridtl.cli import main; "
            f"rc = main(['info', {str(DATA / 'pixels_logreg_v0.hybridtl')!r}]); "
            "print(rc, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["2", "False"]
    assert "format version 1" in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["--recipe", "auto", "--time-budget", "ten"], "not a duration"),
    (["--recipe", "auto", "--time-budget", "0s"], "positive number of seconds"),
    (["--recipe", "cnn_logreg", "--time-budget", "10m"], "--time-budget is for --recipe auto"),
    (["--recipe", "auto", "--grid"], "--grid does not go with --recipe auto"),
])
def test_budget_options_are_checked_in_one_line(args, message, folder, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "m.hybridtl"
    try:
        code = main(["fit", str(folder), *args, "--out", str(out), *TINY])
    except SystemExit as exit_:  # argparse's own type errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert message in err and not out.exists()


def test_bench_with_a_time_budget_reports_the_leaderboard_and_the_winner_on_test(folder, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "bench"
    argv = ["bench", str(folder), "--recipes", "pixels_logreg", "cnn_logreg", "--time-budget", "60",
            "--out", str(out), *TINY]
    assert main(argv) == 0
    results = pd.read_csv(out / "results.csv")
    assert results.loc[0, "winner"] in ("pixels_logreg", "cnn_logreg") and bool(results.loc[0, "within_budget"])
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["contender"]) == {"pixels_logreg", "cnn_logreg"}
    assert (out / "confusion_auto.png").read_bytes()[:4] == b"\x89PNG"


def test_ctrl_c_in_an_auto_fit_saves_the_best_model_so_far(folder, tmp_path, capsys, monkeypatch):  # noqa: F811
    from hybridtl.auto._halving import Halving

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Halving, "probe", interrupted)
    model = tmp_path / "auto.hybridtl"
    assert main(["fit", str(folder), "--recipe", "auto", "--time-budget", "60", "--out", str(model), *TINY]) == 0
    assert "stopped by Ctrl-C: the best model so far" in capsys.readouterr().out and model.is_file()
