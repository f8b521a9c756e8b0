"""Package discovery; everything else is in pyproject.toml.

setuptools' discovery finds every package under ``hybridtl/``, so a new one cannot be left out of the
wheel. The one thing it cannot express in ``pyproject.toml`` is a package found by discovery and one
mapped from another folder together: the recipes live at the top of the checkout (``pipelines/``)
and install as ``hybridtl.pipelines``.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["hybridtl", "hybridtl.*"]) + ["hybridtl.pipelines"],
    package_dir={"hybridtl.pipelines": "pipelines"},
)
