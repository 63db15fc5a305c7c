"""`prefect-oxen demo`: the whole pipeline on this machine, against an embedded emulator.

Starts the emulator in-process (sub-second latency, a few seeded 429s so retries show), writes
the sample batch, runs `batch_flow` on Prefect's ephemeral server and archives to a local
directory, then says where the videos, manifests and Prefect artifacts are.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.panel import Panel

from prefect_oxen.cli._batch_summary import print_batch_summary
from prefect_oxen.cli._exit_codes import BadInput, ExitCode, handle_errors
from prefect_oxen.cli._options import ConcurrencyOption, VerboseOption
from prefect_oxen.cli._output import console
from prefect_oxen.cli._runs import report_problems, run_batch
from prefect_oxen.cli._sample import INVALID_ITEM_ID, SAMPLE_BATCH, write_sample_batch

if TYPE_CHECKING:
    from prefect_oxen.flows import BatchReport

__all__ = ["demo_command"]

_MARKER = ".prefect-oxen-demo"
# Not a secret: the embedded emulator accepts this key only, as the API accepts only yours, so a
# lost or masked key fails the demo instead of passing unnoticed. The user's own OXEN_API_KEY is
# never sent to it.
_DEMO_KEY = "demo-key-for-the-local-emulator"


def _fresh_output(output: Path) -> None:
    """Empty the demo's own output directory (refusing to touch one the demo did not create).

    A previous run's journal points at generations of a previous emulator, so the demo starts
    clean rather than resuming.
    """
    if output.exists():
        if not (output / _MARKER).exists():
            raise BadInput(
                f"{output} exists and was not created by the demo; choose another --output."
            )
        shutil.rmtree(output)
    output.mkdir(parents=True)
    (output / _MARKER).write_text("created by `prefect-oxen demo`; removed by its next run\n")


def _archived(root: Path, pattern: str) -> list[Path]:
    """Archived files, not the pipeline's hidden journal and work files."""
    return sorted(
        path
        for path in root.rglob(pattern)
        if not any(part.startswith(".") for part in path.relative_to(root).parts)
    )


@handle_errors
def demo_command(
    output: Annotated[Path, typer.Option(help="Where the sample batch and the archive go.")] = Path(
        "demo-output"
    ),
    latency: Annotated[float, typer.Option(min=0.0, help="Emulated seconds per generation.")] = 0.6,
    rate_limit: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of API calls answered 429.")
    ] = 0.05,
    concurrency: ConcurrencyOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Run a sample batch (8 items, one multi-shot, one deliberately invalid) end to end.

    Exit 0 when every item but the deliberately invalid one is archived.
    """
    started = time.monotonic()
    out = console()
    output = output.expanduser().resolve()
    _fresh_output(output)
    batch_file = write_sample_batch(output / "sample_batch.jsonl")
    archive = output / "archive"
    report, stats = _run_sample_batch(
        batch_file,
        archive,
        latency=latency,
        rate_limit=rate_limit,
        concurrency=concurrency,
        verbose=verbose,
    )
    print_batch_summary(report, archive=str(archive), title="Demo batch")
    report_problems(report)
    expected = [item for item in report.items if item.key == INVALID_ITEM_ID]
    others = [item for item in report.items if item.key != INVALID_ITEM_ID]
    as_intended = (
        len(expected) == 1
        and expected[0].status == "rejected"
        and all(item.status == "archived" for item in others)
    )
    out.print(_where_things_are(archive, stats))
    elapsed = time.monotonic() - started
    if as_intended:
        line = expected[0].line
        out.print(
            f"[bold green]Demo succeeded[/] in {elapsed:.0f} s: all {len(others)} valid items "
            f"archived; the deliberately invalid item (line {line}, {INVALID_ITEM_ID}) was "
            "rejected before anything was paid, as intended."
        )
        return
    out.print(f"[bold red]Demo incomplete[/] after {elapsed:.0f} s: {report.summary()}.")
    raise typer.Exit(int(ExitCode.ITEMS_FAILED))


def _run_sample_batch(
    batch_file: Path,
    archive: Path,
    *,
    latency: float,
    rate_limit: float,
    concurrency: int | None,
    verbose: bool,
) -> tuple[BatchReport, dict[str, Any]]:
    """The sample batch through `batch_flow` against an embedded emulator: report and stats."""
    from prefect_oxen.blocks import OxenCredentials
    from prefect_oxen.client import PollPolicy
    from prefect_oxen.emulator import running_emulator

    with running_emulator(
        latency=latency,
        latency_jitter=latency / 2,
        seed=8,
        concurrency=8,
        api_keys=[_DEMO_KEY],
        faults={"rate_limit": rate_limit, "retry_after": 1.0},
    ) as emulator:
        console().print(
            Panel.fit(
                f"Emulator: [bold]{emulator.base_url}[/] (Oxen-compatible, real mp4s, "
                f"{latency:g} s per video, {rate_limit:.0%} of calls rate-limited)\n"
                f"Batch:    [bold]{batch_file}[/] ({len(SAMPLE_BATCH)} items: one multi-shot, "
                "one deliberately invalid)\n"
                "Prefect:  ephemeral server, "
                f"PREFECT_HOME={os.environ.get('PREFECT_HOME', '~/.prefect')}",
                title="prefect-oxen demo",
            )
        )
        credentials = OxenCredentials(
            api_key=_DEMO_KEY,
            base_url=emulator.base_url,
            poll=PollPolicy(initial=0.5, maximum=2.0, safety_interval=5.0),
        )
        report = run_batch(
            str(batch_file),
            credentials,
            archive=str(archive),
            concurrency=concurrency,
            budget=None,
            on_budget="refuse",
            dry_run=False,
            mode="auto",
            verbose=verbose,
        )
        return report, emulator.stats()


def _where_things_are(archive: Path, stats: dict[str, Any]) -> Panel:
    """The closing panel: the videos, manifests, artifacts, the UI and the retries drawn."""
    home = os.environ.get("PREFECT_HOME", str(Path.home() / ".prefect"))
    injected = stats.get("faults_injected", {}).get("rate_limit", 0)
    manifests, videos = _archived(archive, "*.json"), _archived(archive, "*.mp4")
    retries = (
        f"Retries:   the emulator answered {injected} call(s) with 429; the client honoured "
        "Retry-After and retried them"
        if injected
        else "Retries:   no 429 was drawn this run"
    )
    return Panel.fit(
        f"Videos:    {len(videos)} mp4 under [bold]{archive}[/]\n"
        f"Manifests: {len(manifests)} JSON files next to them (request, cost, checksum, checks)\n"
        "Artifacts: oxen-batch-report (table), oxen-batch-summary (contact sheet), "
        "oxen-batch-progress\n"
        f"           PREFECT_HOME={home} prefect artifact ls\n"
        f"           PREFECT_HOME={home} prefect artifact inspect oxen-batch-report\n"
        f"UI:        PREFECT_HOME={home} prefect server start  -> http://127.0.0.1:4200/runs\n"
        + retries,
        title="Where things are",
    )
