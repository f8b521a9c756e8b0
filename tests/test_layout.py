"""The package's shape: no import cycles (lazy imports included), no reaching into another module's private
names, one way to declare and check parameters, one XGBoost parameter set, a command line that refuses bad
arguments before it imports torch."""

import ast
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hybridtl"


def test_the_import_graph_has_no_cycle():
    graph = grimp.build_graph("hybridtl", include_external_packages=False)  # imports inside functions too
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    done, path = set(), []

    def visit(module):
        if module in path:
            cycle = path[path.index(module):] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        path.append(module)
        for imported in sorted(edges[module]):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(edges):
        visit(module)
    assert len(edges) > 50


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name):
    return name.startswith("_") and not name.startswith("__")


def _imports(path):
    """(line, module imported from, names) of every ``from ... import ...`` in a file, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            yield node.lineno, source, [alias.name for alias in node.names]


def test_no_module_takes_another_modules_private_names():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        own_package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        for line, source, names in _imports(path):
            if not source.startswith("hybridtl"):
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            offences += [f"{where} takes {source}.{n}" for n in names if _private(n)]
            private_parts = [p for p in source.split(".") if _private(p)]
            if private_parts and source.rpartition(".")[0] != own_package:
                offences.append(f"{where} imports {source}, a private module of another package")
    assert not offences, "\n".join(offences)


def _estimators():
    from hybridtl.features import CNNFeatureExtractor, PixelFeatures
    from hybridtl.finetune import FineTuneClassifier
    from hybridtl.heads import DaskLabelXGBClassifier

    return [CNNFeatureExtractor, FineTuneClassifier, PixelFeatures, DaskLabelXGBClassifier]


@pytest.mark.parametrize("estimator", _estimators(), ids=lambda e: e.__name__)
def test_every_parameter_has_its_constraints_declared(estimator):
    parameters = set(inspect.signature(estimator.__init__).parameters) - {"self"}
    assert set(estimator._parameter_constraints) == parameters


def test_the_in_memory_and_dask_xgboost_heads_share_one_parameter_set():
    from hybridtl.heads import XGB_PARAMS, DaskLabelXGBClassifier, make_head

    dask_head = DaskLabelXGBClassifier()
    assert {k: v for k, v in dask_head._xgb_params().items()} == XGB_PARAMS
    assert (XGB_PARAMS["n_estimators"], XGB_PARAMS["max_depth"], XGB_PARAMS["colsample_bynode"]) == (400, 3, 0.3)
    in_memory = make_head("xgboost")[0][1].get_params()
    assert {k: in_memory[k] for k in XGB_PARAMS} == XGB_PARAMS


def test_the_cli_refuses_a_bad_output_before_it_imports_torch(tmp_path):
    code = ("import sys; from hybridtl.cli import main; "
            f"code = main(['extract', {str(tmp_path)!r}, '--out', 'x.csv']); print(code, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["2", "False"]
    message = "hybridtl extract: error: --out must end in .npz or .parquet, got 'x.csv'"
    assert done.stderr.strip().splitlines() == [message]


def test_setup_finds_every_package_and_the_recipes(monkeypatch):
    """setup.py's discovery gives the wheel every package (a hand-written list had left out hybridtl.auto, which
    an editable install hid), and no folder of modules lacks the __init__.py discovery needs."""
    import runpy

    import setuptools

    root = PACKAGE.parent
    given = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: given.update(kwargs))
    runpy.run_path(str(root / "setup.py"))
    folders = {p.parent for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert not [f for f in folders if not (f / "__init__.py").exists()]
    found = {".".join(f.relative_to(root).parts) for f in folders}
    assert set(given["packages"]) == found | {"hybridtl.pipelines"}
    assert given["package_dir"] == {"hybridtl.pipelines": "pipelines"}


def test_the_top_level_holds_the_sub_packages_and_recipes_only():
    """Every entry is a sub-package with its place in the import contract's layers, or recipes.py."""
    import tomllib

    config = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    layered = {name.strip().removeprefix("hybridtl.") for layer in layers for name in layer.split("|")}
    entries = {p.name for p in PACKAGE.iterdir() if p.name not in {"__init__.py", "__main__.py", "__pycache__"}}
    assert all((PACKAGE / e).is_dir() for e in entries if e != "recipes.py"), entries
    assert {e.removesuffix(".py") for e in entries} == layered


def test_a_moved_module_imports_with_a_warning_naming_its_new_home():
    """In a fresh interpreter (a module imports once per process): each old path warns, naming the new one, and
    its names are the new home's own objects."""
    import hybridtl

    code = textwrap.dedent("""
        import importlib, sys, warnings
        for old, (new, names) in eval(sys.argv[1]).items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                module = importlib.import_module(old)
            home = importlib.import_module(new)
            same = all(getattr(module, n) is getattr(home, n) for n in names) and module.__all__ == list(names)
            print(old, [str(w.message) for w in caught if w.category is DeprecationWarning], same)
    """)
    done = subprocess.run([sys.executable, "-c", code, repr(hybridtl._MOVED)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    expected = [f"{old} {[f'{old} is deprecated; import {{}} from {new}'.format(', '.join(names))]} True"
                for old, (new, names) in hybridtl._MOVED.items()]
    assert done.stdout.splitlines() == expected
    assert len(expected) == 7


def test_a_pickle_naming_an_old_module_loads():
    import pickle
    import warnings

    from hybridtl.features import PixelFeatures

    data = pickle.dumps(PixelFeatures(image_size=8), protocol=0).replace(b"hybridtl.features", b"hybridtl.pixels")
    assert b"hybridtl.pixels" in data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = pickle.loads(data)
    assert type(loaded) is PixelFeatures and loaded.image_size == 8
