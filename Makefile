# Set-up and everyday commands. `make demo`, `make test` and `make docs` install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision pinned to the CUDA build (it also runs on CPU) that installs offline here.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow test-all lint docs gpu-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[dev,docs,openvino,dask,onnx]'
	touch $(STAMP)

# The side-by-side benchmark of every recipe on the real digits (~8 min on 2 CPU cores), then the auto
# search for the best of them within 3 minutes, its leaderboard, and the saved winner's model card.
DEMO_ARGS ?= --image-size 64 --no-augment --out demo-out
AUTO_ARGS ?= --recipe auto --time-budget 3m --image-size 64 --out demo-out/auto.hybridtl

demo: install
	$(VENV)/bin/hybridtl bench digits $(DEMO_ARGS)
	$(VENV)/bin/hybridtl fit digits $(AUTO_ARGS)
	$(VENV)/bin/hybridtl info demo-out/auto.hybridtl

# Lint (ruff: pyflakes, import order, line length) and the import contract (the layers, lazy imports too).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# The test suite without the slow end-to-end checks (about 7 min on 2 CPU cores); test-slow runs those
# (about 3 min), test-all both. .ci/run runs test and test-slow.
test: lint
	$(PY) -m pytest -m "not slow"

test-slow: install
	$(PY) -m pytest -m slow

test-all: test test-slow

# The documentation site, warnings as errors, into site/.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

# The CUDA paths' checks and the GPU throughput table (benchmarks/gpu_check.py), at most ~8 min on one GPU.
# Runs on the machine's own python3 with this checkout on PYTHONPATH (no venv); without a GPU it says so
# in one line and exits 0.
gpu-check:
	PYTHONPATH=$(CURDIR) python3 benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache demo-out bench-out site
