"""The storage package's surface: what `__all__` lists, and only private modules behind it."""

from __future__ import annotations

import pkgutil
import types

import prefect_oxen.storage as package


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    public -= {"annotations"}  # from __future__ import annotations
    assert sorted(package.__all__) == sorted(public)
    assert all(getattr(package, name, None) is not None for name in package.__all__)


def test_implementation_modules_are_private() -> None:
    modules = [info.name for info in pkgutil.iter_modules(package.__path__)]
    assert modules
    assert [name for name in modules if not name.startswith("_")] == []
