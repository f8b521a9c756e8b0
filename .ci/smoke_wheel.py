"""Smoke test of hybridtl as a user installs it: run with the python of a fresh virtual environment holding the
built wheel (not editable), from a folder outside the checkout.

    python .ci/smoke_wheel.py CHECKOUT

Checks that the package comes from site-packages, not the checkout; that its version is the distribution's;
that every module imports; that every command-line verb answers ``--help``; that the README's two quick starts
run (at toy size: fewer images, 16 px, one epoch); that ``hybridtl fit --recipe auto`` fits, saves and
predicts within a few seconds' budget; and that ``hybridtl export`` (the wheel's ``onnx`` extra) turns that
model into an ONNX file onnxruntime runs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The README's code at toy size: each pattern must be found (a README edit that moves it fails here, loudly).
TOY = [
    (r"(X, y = load_digits_images\(\)[^\n]*\n)", r"\1X, y = X[:300], y[:300]\n"),
    (r"image_size=64", "image_size=16"),
    (r"cv=3", "cv=2"),
    (r"epochs=8", "epochs=1"),
]
VERBS = ["backbones", "download", "extract", "fit", "predict", "evaluate", "info", "bench", "export"]


def step(name, started=[time.perf_counter()]):  # noqa: B006 - one clock for the whole run
    print(f"[{time.perf_counter() - started[0]:6.1f} s] {name}", flush=True)


def check_installed(checkout):
    import hybridtl

    where = Path(hybridtl.__file__).resolve()
    assert checkout not in where.parents, f"hybridtl was imported from the checkout: {where}"
    assert "site-packages" in where.parts, where
    assert hybridtl.__version__ == importlib.metadata.version("hybridtl")
    dist = importlib.metadata.distribution("hybridtl")
    assert dist.metadata["License-Expression"] == "MIT", dist.metadata["License-Expression"]
    assert any(f.name == "LICENSE" for f in dist.files), "the wheel carries no LICENSE"
    step(f"hybridtl {hybridtl.__version__} from {where.parent}, MIT with its LICENSE")


def check_every_module_imports():
    import hybridtl

    names = [m.name for m in pkgutil.walk_packages(hybridtl.__path__, "hybridtl.") if not m.name.endswith("__main__")]
    for name in names:
        importlib.import_module(name)
    assert "hybridtl.auto" in names and "hybridtl.pipelines.cnn_logreg" in names
    step(f"{len(names)} modules import")


def run(*args, cwd):
    done = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def check_command_line(cli, cwd):
    assert run(cli, "--version", cwd=cwd).strip() == f"hybridtl {importlib.metadata.version('hybridtl')}"
    for verb in VERBS:
        assert "usage: hybridtl " + verb in run(cli, verb, "--help", cwd=cwd), verb
    step(f"--version and {len(VERBS)} verbs' --help")


def quick_starts(readme):
    blocks = re.findall(r"## Quick start[^\n]*\n.*?```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 2, f"expected the README's two quick starts, found {len(blocks)}"
    code = "\n".join(blocks)
    for pattern, toy in TOY:
        code, n = re.subn(pattern, toy, code)
        assert n, f"the README's quick starts no longer contain {pattern!r}"
    return code


def check_quick_starts(readme, cwd):
    out = run(sys.executable, "-c", quick_starts(readme), cwd=cwd)
    scores = [float(line) for line in out.split()]
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores), out
    step(f"README quick starts at toy size: scores {scores}")


def check_auto(cli, cwd):
    out = run(cli, "fit", "digits", "--recipe", "auto", "--time-budget", "20s", "--image-size", "16",
              "--limit-per-class", "20", "--out", "auto.hybridtl", cwd=cwd)
    assert "winner" in out.lower(), out
    assert "auto" in run(cli, "info", "auto.hybridtl", cwd=cwd)
    step("fit --recipe auto (20 s budget), saved and described")
    assert "wrote auto.onnx" in run(cli, "export", "auto.hybridtl", "auto.onnx", cwd=cwd)
    code = ("import json, numpy as np, onnxruntime as ort\n"
            "s = ort.InferenceSession('auto.onnx')\n"
            "probs, label = s.run(None, {'pixels': np.zeros((2, 20, 30, 3), np.uint8)})\n"
            "classes = json.loads(s.get_modelmeta().custom_metadata_map['classes'])\n"
            "assert probs.shape == (2, len(classes)) and abs(probs.sum(1) - 1).max() < 1e-5, probs\n")
    run(sys.executable, "-c", code, cwd=cwd)
    step("the auto winner exported to ONNX (the onnx extra) and run by onnxruntime")


def main(checkout):
    checkout = Path(checkout).resolve()
    cli = shutil.which("hybridtl", path=str(Path(sys.executable).parent))
    assert cli, "the wheel installed no hybridtl command"
    with tempfile.TemporaryDirectory() as cwd:
        check_installed(checkout)
        check_every_module_imports()
        check_command_line(cli, cwd)
        check_quick_starts((checkout / "README.md").read_text(), cwd)
        check_auto(cli, cwd)
    step("the installed wheel works")


if __name__ == "__main__":
    main(sys.argv[1])
