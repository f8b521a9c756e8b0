"""Real faults in real processes: SIGKILL mid-save and mid-cache-write, and four processes on one cache.

``make test`` kills each run at 6 random moments; ``python benchmarks/faults.py`` runs the same
tests with 20 (``HYBRIDTL_KILLS``), about 4 minutes on 2 cores.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hybridtl
from hybridtl.features import CNNFeatureExtractor
from hybridtl.images import load_image_folder

KILLS = int(os.environ.get("HYBRIDTL_KILLS", "6"))
pytestmark = pytest.mark.slow  # real processes started and killed: `make test-slow`


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits):
    """Real digits 3, 5, 8 as PNG files in class folders."""
    root = tmp_path_factory.mktemp("digits")
    X, y = digits
    for label in (3, 5, 8):
        (root / str(label)).mkdir()
        for i, image in enumerate(X[y == label][:10]):
            Image.fromarray(image).resize((24, 24)).save(root / str(label) / f"{i}.png")
    return root


def _entries(cache):
    return [p for p in cache.rglob("*.npy") if not p.name.startswith(".")]  # dot files: writes in flight


def _kill_at_random_moments(argv, rng, run_seconds, check):
    """Start ``argv`` KILLS times, SIGKILL it at a uniform random moment of a full run, then ``check()``."""
    finished = 0
    for _ in range(KILLS):
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=rng.uniform(0, run_seconds))
            finished += 1
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        check()
    return finished


def test_sigkill_during_fit_never_damages_the_model_file(folder, tmp_path):
    model = tmp_path / "model.hybridtl"
    fit = [sys.executable, "-m", "hybridtl", "fit", str(folder), "--recipe", "cnn_logreg", "--out", str(model),
           "--image-size", "32", "--no-progress"]
    start = time.perf_counter()
    subprocess.run(fit, check=True, capture_output=True)
    run_seconds = time.perf_counter() - start
    old_bytes = model.read_bytes()
    paths, _ = load_image_folder(folder)
    expected = hybridtl.load(model).predict_proba(paths)

    def check():
        loaded = hybridtl.load(model)  # complete: the old file or a whole new one, never a half
        np.testing.assert_array_equal(loaded.predict_proba(paths), expected)

    finished = _kill_at_random_moments(fit, np.random.default_rng(0), run_seconds, check)
    assert finished < KILLS  # most runs were really killed
    print(f"{KILLS - finished} of {KILLS} fits killed; model intact, identical predictions; "
          f"file unchanged: {model.read_bytes() == old_bytes}")
    # random moments rarely fall inside the save itself: kill there on purpose, after each of its entries
    for entry in (1, 2, 3):
        before = model.read_bytes()  # a random-moment run above may have finished and saved anew
        _kill_inside_the_save(fit, tmp_path / f"entry{entry}", entry)
        check()
        assert model.read_bytes() == before, f"a kill after entry {entry} of the save changed the model file"


def _kill_inside_the_save(argv, marker, entry):
    """Run ``argv`` (a ``python -m hybridtl`` command) with the model file's zip writes slowed down; SIGKILL it as
    soon as the save has written ``entry`` entries (of four) to the file (or its temporary twin)."""
    model_name = Path(argv[argv.index("--out") + 1]).name
    hook = textwrap.dedent(f"""
        import runpy, sys, time, zipfile
        real, count = zipfile.ZipFile.writestr, [0]
        def slow(self, *args, **kwargs):
            real(self, *args, **kwargs)
            if {model_name!r} not in str(self.filename):  # skops builds its own zip in memory first
                return
            count[0] += 1
            if count[0] == {entry}:
                open({str(marker)!r}, "w").close()
                time.sleep(60)
        zipfile.ZipFile.writestr = slow
        sys.argv = {["hybridtl", *argv[3:]]!r}
        runpy.run_module("hybridtl", run_name="__main__")
    """)
    process = subprocess.Popen([argv[0], "-c", hook], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, "the fit ended before its save wrote that entry"
            assert time.monotonic() < deadline, "the save never reached that entry"
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def test_sigkill_during_a_cached_transform_leaves_no_half_entry(folder, tmp_path):
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        from hybridtl.features import CNNFeatureExtractor
        from hybridtl.images import load_image_folder
        paths, _ = load_image_folder({str(folder)!r})
        CNNFeatureExtractor(image_size=32, device="cpu", batch_size=1, cache={str(cache)!r}).fit().transform(paths)
    """)
    argv = [sys.executable, "-c", script]
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    run_seconds = time.perf_counter() - start
    for entry in cache.rglob("*.npy"):
        entry.unlink()  # start the kills from an empty cache

    def check():
        for entry in _entries(cache):
            assert np.load(entry, allow_pickle=False).shape == (1280,)

    finished = _kill_at_random_moments(argv, np.random.default_rng(1), run_seconds, check)
    print(f"{KILLS - finished} of {KILLS} cached transforms killed; {len(_entries(cache))} whole entries, no half one")
    paths, _ = load_image_folder(folder)
    fresh = CNNFeatureExtractor(image_size=32, device="cpu", cache=None).fit().transform(paths)
    cached = CNNFeatureExtractor(image_size=32, device="cpu", cache=cache).fit().transform(paths)
    np.testing.assert_allclose(cached, fresh, atol=1e-6)


def test_four_processes_extract_into_one_cache_at_once(folder, tmp_path):
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from hybridtl.features import CNNFeatureExtractor
        from hybridtl.images import load_image_folder
        paths, _ = load_image_folder({str(folder)!r})
        ext = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=2, cache={str(cache)!r}).fit()
        np.save(sys.argv[1], ext.transform(paths))
    """)
    outputs = [tmp_path / f"out{i}.npy" for i in range(4)]
    processes = [subprocess.Popen([sys.executable, "-c", script, str(out)], stderr=subprocess.PIPE) for out in outputs]
    errors = [p.communicate(timeout=300)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
    paths, _ = load_image_folder(folder)
    fresh = CNNFeatureExtractor(image_size=32, device="cpu", batch_size=2, cache=None).fit().transform(paths)
    for out in outputs:
        np.testing.assert_allclose(np.load(out), fresh, atol=1e-6)
    assert len(_entries(cache)) == len(paths)
