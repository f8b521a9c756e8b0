"""Feature extraction from the same image files: in this process vs a dask LocalCluster of 1 and 2 workers.

The files are real photo crops (scikit-image's bundled photos) saved as JPEG, 256-448 px. Each
contender reads all of them and writes nothing (``out=None``, computed and dropped partition by
partition), on the same cores; rounds interleave the contenders and the best round counts.
Reported: images/s, the ratio to in-process, the per-partition overhead (partitions of 16 vs
256 images), and each worker's memory after extracting N and 3N images (flat = it does not grow
with the number of images).

    python benchmarks/distributed.py --images 256 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

# this file is named as the issue asks, like the `distributed` package: keep its folder off the path
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import time
import warnings

import numpy as np
import pandas as pd
from PIL import Image

from hybridtl.features import CNNFeatureExtractor
from hybridtl.scaleout import extract_features, local_cluster

PHOTOS = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field"]


def make_files(folder, n, seed=0):
    import skimage.data

    rng = np.random.default_rng(seed)
    photos = [getattr(skimage.data, name)()[..., :3] for name in PHOTOS]
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        side = int(rng.integers(256, min(photo.shape[:2]) + 1)) if min(photo.shape[:2]) > 256 else min(photo.shape[:2])
        y0, x0 = (int(rng.integers(0, photo.shape[k] - side + 1)) for k in (0, 1))
        path = os.path.join(folder, f"{i:06d}.jpg")
        Image.fromarray(photo[y0:y0 + side, x0:x0 + side]).save(path, quality=90)
        paths.append(path)
    return paths


def worker_rss(client):
    import psutil

    return sorted(v / 2**20 for v in client.run(lambda: psutil.Process().memory_info().rss).values())


def drain(frame, client):
    """Compute every partition and drop it (no result kept on the client)."""
    futures = client.compute(frame.to_delayed())
    for future in futures:
        len(future.result())
        future.release()


def memory_check(client, extractor, paths, args):
    """Worker RSS after calls of 3N images, then after one call on 15x as many (the files reused)."""
    memory = {"start": worker_rss(client)}
    for k in range(1, 4):
        drain(extract_features(paths, extractor, client=client, partition_size=256), client)
        memory[f"after call {k} ({len(paths)} images)"] = worker_rss(client)
    many = paths * 15
    drain(extract_features(many, extractor, client=client, partition_size=256), client)
    memory[f"after one call on {len(many)} images"] = worker_rss(client)
    print("\nworker memory (MiB, each of the 2 workers), partitions of 256:")
    for name, values in memory.items():
        print(f"  {name}: {', '.join(f'{v:.0f}' for v in values)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--partition-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--memory-only", action="store_true", help="only the worker-memory check")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    folder = tempfile.mkdtemp(prefix="hybridtl-distributed-")
    paths = make_files(folder, 3 * args.images)
    few = paths[: args.images]
    extractor = CNNFeatureExtractor(image_size=args.image_size, cache=None, device="cpu").fit()
    extractor.transform(few[:8])  # compile the runtime once, as the workers do on their first partition
    clusters = {n: local_cluster(n_workers=n) for n in (1, 2)}
    from distributed import Client

    clients = {n: Client(cluster, set_as_default=False) for n, cluster in clusters.items()}
    for client in clients.values():  # warm: the extractor on every worker
        drain(extract_features(few[:16], extractor, client=client, partition_size=8), client)

    if args.memory_only:
        memory_check(clients[2], extractor, paths, args)
        return
    contenders = {"in-process (transform)": lambda files: extractor.transform(files)}
    for n, client in clients.items():
        sizes = [args.partition_size] if n == 1 else sorted({16, args.partition_size, 256})
        for size in sizes:
            name = f"LocalCluster {n} worker{'s' * (n > 1)}, partitions of {size}"
            contenders[name] = (lambda files, client=client, size=size:
                                drain(extract_features(files, extractor, client=client, partition_size=size), client))
    timings = {}
    for _ in range(args.rounds):  # interleaved: every contender once per round, N then 3N images
        for name, run in contenders.items():
            for n in (args.images, 3 * args.images):
                start = time.perf_counter()
                run(paths[:n])
                timings.setdefault((name, n), []).append(time.perf_counter() - start)
    rows = []
    for name in contenders:
        small, large = min(timings[(name, args.images)]), min(timings[(name, 3 * args.images)])
        rows.append({"contender": name, f"seconds_{3 * args.images}": round(large, 2),
                     "images_per_s": round(3 * args.images / large, 1),
                     "steady_images_per_s": round(2 * args.images / (large - small), 1),
                     "fixed_seconds_per_call": round(small - (large - small) / 2, 2)})
    table = pd.DataFrame(rows)
    base = table["images_per_s"][0]
    steady = table["steady_images_per_s"][0]
    table.insert(3, "vs_in_process", (table["images_per_s"] / base).round(2))
    table.insert(5, "steady_vs_in_process", (table["steady_images_per_s"] / steady).round(2))
    print(f"{len(paths)} JPEG files, {args.image_size} px, runtime={extractor.runtime} ({os.cpu_count()} cores), "
          f"best of {args.rounds} interleaved rounds; steady = the extra {2 * args.images} images of a "
          f"{3 * args.images}-image call over a {args.images}-image one (what a large job runs at)")
    print(table.to_markdown(index=False))
    small = min(timings[("LocalCluster 2 workers, partitions of 16", 3 * args.images)])
    large = min(timings[("LocalCluster 2 workers, partitions of 256", 3 * args.images)])
    n = 3 * args.images
    per_partition = (small - large) / (n / 16 - n / 256)
    print(f"\nper-partition overhead (2 workers, 16 vs 256 images per partition): {1000 * per_partition:.0f} ms")

    memory_check(clients[2], extractor, paths, args)
    for c in clients.values():
        c.close()
    for c in clusters.values():
        c.close()


if __name__ == "__main__":
    main()
