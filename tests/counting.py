"""Helpers the dask workers import in the distributed tests."""

import os

from hybridtl.features import CNNFeatureExtractor


class CountingExtractor(CNNFeatureExtractor):
    """Appends this process's id to ``_log`` each time a copy is unpickled."""

    def __setstate__(self, state):
        super().__setstate__(state)
        with open(self._log, "a") as f:
            f.write(f"{os.getpid()}\n")
