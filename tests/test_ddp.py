"""FineTuneClassifier under torchrun: 2 gloo ranks on the CPU, a small random-weight network at 32 px."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hybridtl
from hybridtl.images import load_digits_images

TRAIN = textwrap.dedent('''
    import hashlib, json, sys
    import numpy as np, torch.distributed as dist
    from hybridtl.images import load_digits_images
    from hybridtl.finetune import FineTuneClassifier, is_main_process
    from hybridtl.serialization import save
    out, strategy, bn = sys.argv[1:4]
    X, y = load_digits_images()
    clf = FineTuneClassifier(weights=None, strategy=strategy, epochs=3, image_size=32, device="cpu", progress=False,
                             random_state=None, batch_size=16, bn=bn, patience=1).fit(X[:120], y[:120])
    state = clf.model_.state_dict()
    digest = hashlib.sha1(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
    rank = dist.get_rank()
    with open(f"{out}/rank{rank}.json", "w") as f:
        json.dump({"digest": digest, "history": clf.history_.drop(columns="seconds").to_dict(orient="list"),
                   "best_epoch": clf.best_epoch_, "world": dist.get_world_size(),
                   "backend": dist.get_backend()}, f)
    if is_main_process():  # the documented guard: every rank runs this script, one writes the model
        save(clf, f"{out}/rank{rank}-model.hybridtl")
        np.save(f"{out}/proba.npy", clf.predict_proba(X[:20]))
''')

RECIPE = textwrap.dedent('''
    from hybridtl.finetune import FineTuneClassifier
    KIND = "finetune"
    def build(image_size=None, random_state=0, epochs=2, **_):
        return FineTuneClassifier(weights=None, strategy="full", image_size=32, epochs=2, device="cpu",
                                  progress=False, random_state=random_state, batch_size=16)
''')


def torchrun(*args, cwd):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.parametrize("strategy, bn", [("gradual", "train"), ("two_stage", "frozen")])
def test_two_ranks_hold_one_model_and_rank0_saves_it(tmp_path, strategy, bn):
    (tmp_path / "train.py").write_text(TRAIN)
    torchrun("train.py", str(tmp_path), strategy, bn, cwd=tmp_path)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and ranks[0]["backend"] == "gloo"
    # gradients averaged, BatchNorm statistics synchronised, rank 0's seed: the same weights everywhere
    assert ranks[0]["digest"] == ranks[1]["digest"]
    assert ranks[0]["history"] == ranks[1]["history"] and ranks[0]["best_epoch"] == ranks[1]["best_epoch"]
    # is_main_process() held on rank 0 alone: each rank would have saved under its own name
    assert sorted(p.name for p in tmp_path.glob("rank*-model.hybridtl")) == ["rank0-model.hybridtl"]
    model = hybridtl.load(tmp_path / "rank0-model.hybridtl")  # in this plain process, no process group
    X, _ = load_digits_images()
    np.testing.assert_allclose(model.predict_proba(X[:20]), np.load(tmp_path / "proba.npy"), rtol=0, atol=1e-6)


def test_cli_fit_under_torchrun_writes_one_model(tmp_path):
    (tmp_path / "recipe.py").write_text(RECIPE)
    done = torchrun("-m", "hybridtl", "fit", "digits", "--limit-per-class", "12", "--recipe", "recipe.py",
                    "--out", "model.hybridtl", "--no-progress", cwd=tmp_path)
    assert done.stdout.count("saved model.hybridtl") == 1  # rank 0 only
    model = hybridtl.load(tmp_path / "model.hybridtl")
    X, _ = load_digits_images()
    assert model.predict(X[:5]).shape == (5,)
