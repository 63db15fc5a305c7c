"""The public surface of every package: pinned, complete, and nothing public by accident.

As in httpx: `__all__` lists exactly the names a package exposes, implementation modules are
private (``_name.py``), and the surface itself is pinned in ``public_surface.json``, so a name
joins or leaves it only by a reviewed change to that file.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import types
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).with_name("public_surface.json")
PINNED: dict[str, list[str]] = json.loads(SNAPSHOT.read_text())
# A deployment's module-path entrypoint names these (``prefect_oxen.flows.batch:batch_flow``).
PUBLIC_MODULES = {"prefect_oxen.flows": {"batch", "multi_shot", "report", "sharded", "single"}}
SUBPACKAGES = sorted(name for name in PINNED if name != "prefect_oxen")
# The CLI package imports its command functions to register them on the app, not to export them.
REGISTERS_COMMANDS = {"prefect_oxen.cli"}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_all_is_the_pinned_surface(name: str) -> None:
    package = importlib.import_module(name)
    assert sorted(package.__all__) == PINNED[name], (
        f"{name}.__all__ changed: if that is deliberate, update {SNAPSHOT.name}"
    )


@pytest.mark.parametrize("name", sorted(PINNED))
def test_every_exported_name_resolves(name: str) -> None:
    package = importlib.import_module(name)
    missing = [attr for attr in package.__all__ if getattr(package, attr, None) is None]
    assert missing == []


@pytest.mark.parametrize("name", sorted(set(SUBPACKAGES) - REGISTERS_COMMANDS))
def test_all_lists_every_public_name_the_package_holds(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_")
        and not isinstance(value, types.ModuleType)
        # typing helpers an __init__ uses itself (``Any`` for a lazy __getattr__) are not exports
        and getattr(value, "__module__", None) not in ("typing", "__future__")
        and attr != "TYPE_CHECKING"
    }
    # A subset, not equality: a package may export some names lazily (module __getattr__).
    assert sorted(public - set(package.__all__)) == []


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_implementation_modules_are_private(name: str) -> None:
    package = importlib.import_module(name)
    modules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert modules
    public = {module for module in modules if not module.startswith("_")}
    assert public <= PUBLIC_MODULES.get(name, set())


def test_every_export_of_the_tasks_package_defined_there_is_a_prefect_task() -> None:
    from prefect import Task

    import prefect_oxen.tasks as tasks

    defined_here = {
        attr
        for attr in tasks.__all__
        if getattr(getattr(tasks, attr), "__module__", "").startswith("prefect_oxen.tasks")
        or isinstance(getattr(tasks, attr), Task)
    }
    assert "produce_video" in defined_here
    assert all(isinstance(getattr(tasks, attr), Task) for attr in defined_here)


def test_the_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    import prefect_oxen
    from prefect_oxen.client._config import USER_AGENT

    assert prefect_oxen.__version__ == version("prefect-oxen")
    assert f"prefect-oxen/{prefect_oxen.__version__}" == USER_AGENT
