"""Shape rules for `prefect_oxen/` that a reviewer would otherwise check by eye.

A function's length is counted from its first statement after the docstring to its last line: the
signature (long option declarations of CLI commands and flows) and the docstring (whose ``Args:``
Prefect shows in the run form) are the interface, not the logic. Run as a script
to list offenders: ``python tests/quality/code_shape.py prefect_oxen/client``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

MAX_BODY_LINES = 60
PACKAGE = Path(__file__).resolve().parents[2] / "prefect_oxen"


def function_bodies(root: Path) -> Iterator[tuple[Path, str, int, int]]:
    """Every function under `root` as (file, qualified name, first line, body length)."""
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        yield from _walk(path, tree, prefix="")


def _walk(path: Path, node: ast.AST, prefix: str) -> Iterator[tuple[Path, str, int, int]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{child.name}"
            first_body_line = _first_statement(child).lineno
            length = (child.end_lineno or first_body_line) - first_body_line + 1
            yield path, name, child.lineno, length
            yield from _walk(path, child, prefix=f"{name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _walk(path, child, prefix=f"{prefix}{child.name}.")


def _first_statement(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.stmt:
    body = function.body
    has_docstring = (
        isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    return body[1] if has_docstring and len(body) > 1 else body[0]


def long_functions(root: Path = PACKAGE, limit: int = MAX_BODY_LINES) -> list[str]:
    """Functions whose bodies are longer than `limit` lines, as ``file:line name (N lines)``."""
    return [
        f"{path.relative_to(root.parent) if root.parent in path.parents else path}:{line} {name} ({length} lines)"
        for path, name, line, length in function_bodies(root)
        if length > limit
    ]


if __name__ == "__main__":
    targets = [Path(arg).resolve() for arg in sys.argv[1:]] or [PACKAGE]
    found = [row for target in targets for row in long_functions(target)]
    print("\n".join(found) or f"no function body over {MAX_BODY_LINES} lines")
    sys.exit(1 if found else 0)
