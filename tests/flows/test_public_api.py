"""The flows package's surface: `__all__` pinned, and only flow modules (plus the report).

The flow modules keep public names: a deployment's module-path entrypoint names them
(``prefect_oxen.flows.batch:batch_flow``).
"""

from __future__ import annotations

import pkgutil
import types

import prefect_oxen.flows as package

FLOW_MODULES = {"batch", "multi_shot", "single", "sharded"}


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert sorted(package.__all__) == sorted(public)


def test_public_modules_are_flows_or_the_report() -> None:
    modules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert {name for name in modules if not name.startswith("_")} <= FLOW_MODULES | {"report"}
