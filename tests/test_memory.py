"""Memory stays flat in the number of images: the small version of benchmarks/memory.py."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("memory_bench", Path(__file__).parent.parent / "benchmarks" / "memory.py")
memory_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory_bench)


def test_peak_memory_beyond_the_features_does_not_grow_with_n(tmp_path):
    table = memory_bench.measure([200, 1000], tmp_path)
    growth = table.pivot(index="run", columns="n_images", values="peak_minus_features_mb")
    print(table.round(1).to_string())
    # 5x the images: what is not the returned features grows by less than 30 MB (the default cache
    # holds ~5 MB of those 1000 images' features; RSS itself varies by a few MB run to run)
    assert (growth[1000] - growth[200] < 30).all(), growth
