"""Every documented class and function (each package's ``__all__``) has numpydoc Parameters, Returns and
Examples sections; the examples run as doctests (``--doctest-modules``)."""

import importlib
import inspect

import pytest

PACKAGES = ["images", "backbones", "features", "heads", "finetune", "callbacks", "evaluation", "serialization",
            "recipes", "scaleout", "devices", "core", "export"]


def _documented():
    for package in PACKAGES:
        module = importlib.import_module(f"hybridtl.{package}")
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"hybridtl.{package}.{name}", obj


def _takes_parameters(obj):
    """Whether the object defines parameters of its own (a class that keeps a library's __init__ does not)."""
    if inspect.isclass(obj):
        owner = next(base for base in obj.__mro__ if "__init__" in vars(base))
        if issubclass(obj, BaseException) or not owner.__module__.startswith("hybridtl"):
            return False
    target = obj.__init__ if inspect.isclass(obj) else obj
    return any(name not in ("self", "cls") for name in inspect.signature(target).parameters)


@pytest.mark.parametrize("name, obj", list(_documented()), ids=lambda value: value if isinstance(value, str) else "")
def test_numpydoc_sections(name, obj):
    doc = inspect.getdoc(obj) or ""
    missing = [section for section, needed in (
        ("Parameters", _takes_parameters(obj)),
        ("Returns", inspect.isfunction(obj) and not inspect.isgeneratorfunction(obj)),
        ("Yields", inspect.isgeneratorfunction(obj)),
        ("Examples", True),
    ) if needed and f"\n{section}\n---" not in f"\n{doc}"]
    assert not missing, f"{name} lacks {missing}"
    assert ">>> " in doc, f"{name}'s Examples has no doctest"
