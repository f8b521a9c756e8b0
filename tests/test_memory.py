"""Memory stays flat in the number of images: the small version of benchmarks/memory.py."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("memory_bench", Path(__file__).parent.parent / "benchmarks" / "memory.py")
memory_bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(memory_bench)


@pytest.mark.slow
def test_peak_memory_beyond_the_features_does_not_grow_with_n(tmp_path):
    small, large = 400, 1600
    table = memory_bench.measure([small, large], tmp_path, predict_chunk=256)  # predict: several chunks either way
    growth = table.pivot(index="run", columns="n_images", values="peak_minus_features_mb")
    print(table.round(1).to_string())
    more = growth[large] - growth[small]
    # Keeping the 1,200 more images decoded, even as uint8 at the resize side (73 px for 64), would add 19 MB; as
    # the network's float32 input, 59 MB. Streaming adds nothing but RSS noise (a few MB), and with the default
    # cache its in-memory features (at most n x 1280 float32, 8 MB here).
    kept_uint8 = (large - small) * 73 * 73 * 3 / 2**20
    cache_mb = large * 1280 * 4 / 2**20
    assert kept_uint8 > 18
    assert more["transform (cache=None)"] < 10 and more["hybridtl predict"] < 10, more
    assert more["transform (cache='auto', default)"] < 10 + cache_mb, more
