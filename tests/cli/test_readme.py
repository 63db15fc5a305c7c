"""The README's "Using the tasks in your own flow" snippet runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

from ..deployments.processes import REPO


def _snippet() -> str:
    text = (REPO / "README.md").read_text()
    section = text.split("## Using the tasks in your own flow", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_tasks_snippet_runs_against_the_emulator(oxen_env, tmp_path: Path) -> None:
    code = _snippet()
    namespace: dict = {"__name__": "readme_snippet"}
    exec(compile(code, "README.md", "exec"), namespace)
    import asyncio

    # A prompt unique to this test, so no earlier cached generation answers for it.
    uri = asyncio.run(namespace["fox_video"](prompt=f"a fox {tmp_path.name}"))
    assert uri.startswith("file://") and uri.endswith("fox.mp4")
    assert Path(uri.removeprefix("file://")).is_file()
    assert list((tmp_path / "videos").glob("*.mp4"))
    [generation] = oxen_env.generations()
    assert generation["request"]["prompt"] == f"a fox {tmp_path.name}"
