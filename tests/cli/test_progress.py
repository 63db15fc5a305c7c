"""The batch progress bar: it advances on the flow's own per-item signal, counts failures, and
leaves no stale line under a stop report."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from prefect_oxen.cli._progress import batch_progress
from prefect_oxen.engine import announce_item


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


def test_the_bar_advances_as_each_item_is_announced_and_counts_failures() -> None:
    console, _ = _console()
    with batch_progress(console, "Generating 3 item(s)", 3) as progress:
        [bar] = progress.tasks
        announce_item("a", "archived")
        assert (bar.completed, bar.fields["failed"]) == (1, 0)
        announce_item("b", "failed")
        assert (bar.completed, bar.fields["failed"]) == (2, 1)
        announce_item("c", "skipped")
        assert (bar.completed, bar.fields["failed"]) == (3, 1)


def test_rejected_and_held_back_items_are_counted_apart_from_failures() -> None:
    """Issue 21: a rejected line (bad input, never sent) was shown as a failed generation."""
    console, out = _console()
    with batch_progress(console, "Generating 5 item(s)", 5) as progress:
        [bar] = progress.tasks
        assert bar.fields["outcomes"] == "[red]0 failed[/]"
        announce_item("line 2", "rejected")
        announce_item("b", "failed")
        announce_item("c", "not_submitted")
        announce_item("line 4", "rejected")
        announce_item("e", "archived")
        fields = {name: bar.fields[name] for name in ("failed", "rejected", "not_submitted")}
        assert (bar.completed, fields) == (5, {"failed": 1, "rejected": 2, "not_submitted": 1})
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "1 failed · 2 rejected · 1 not submitted" in drawn


def test_items_the_flow_never_announced_still_end_the_bar() -> None:
    console, _ = _console()
    with batch_progress(console, "Generating 4 item(s)", 4) as progress:
        announce_item("a", "archived")
    assert progress.tasks[0].completed == 4


def test_a_stopped_run_leaves_no_bar_line_under_its_report() -> None:
    out = io.StringIO()
    console = Console(
        file=out, force_terminal=False, width=120
    )  # as a log file sees it: lines only
    with pytest.raises(KeyboardInterrupt), batch_progress(console, "Generating 2 item(s)", 2):
        announce_item("a", "archived")
        console.print("Stopped by Ctrl-C (SIGINT).")
        raise KeyboardInterrupt
    assert out.getvalue().rstrip().endswith("Stopped by Ctrl-C (SIGINT).")
