"""`prefect-oxen demo`: the whole pipeline on this machine, against an embedded emulator.

Starts the emulator in-process (sub-second latency, a few seeded 429s so retries show), writes
the sample batch, runs `batch_flow` on Prefect's ephemeral server and archives to a local
directory, then says where the videos, manifests and Prefect artifacts are.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel

from prefect_oxen.cli._batch_summary import print_batch_summary
from prefect_oxen.cli._emulator import require_emulator
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
    archive_to: Annotated[
        str | None,
        typer.Option(
            "--archive",
            help="An oxen://NS/REPO(@BRANCH)(/PREFIX) repository of the embedded emulator to "
            "commit the videos and their dataset table to (default: OUTPUT/archive).",
        ),
    ] = None,
) -> None:
    """Run a sample batch (8 items, one multi-shot, one deliberately invalid) end to end.

    Exit 0 when every item but the deliberately invalid one is archived.
    """
    require_emulator()
    started = time.monotonic()
    out = console()
    output = output.expanduser().resolve()
    _fresh_output(output)
    batch_file = write_sample_batch(output / "sample_batch.jsonl")
    if archive_to is not None and not archive_to.lower().startswith("oxen://"):
        raise BadInput("demo --archive takes an oxen://NS/REPO URI (the emulator's repository).")
    archive = archive_to or str(output / "archive")
    report, stats, repository = _run_sample_batch(
        batch_file,
        archive,
        latency=latency,
        rate_limit=rate_limit,
        concurrency=concurrency,
        verbose=verbose,
        journal=str(output / ".oxen-journal.jsonl") if archive_to else None,
    )
    print_batch_summary(report, archive=archive, title="Demo batch")
    report_problems(report)
    expected = [item for item in report.items if item.key == INVALID_ITEM_ID]
    others = [item for item in report.items if item.key != INVALID_ITEM_ID]
    as_intended = (
        len(expected) == 1
        and expected[0].status == "rejected"
        and all(item.status == "archived" for item in others)
    )
    out.print(repository or _where_things_are(Path(archive), stats))
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
    archive: str,
    *,
    latency: float,
    rate_limit: float,
    concurrency: int | None,
    verbose: bool,
    journal: str | None = None,
) -> tuple[BatchReport, dict[str, Any], Panel | None]:
    """The sample batch through `batch_flow` against an embedded emulator: report, stats and,
    for an ``oxen://`` archive, the repository's last commit and table."""
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
            archive=archive,
            concurrency=concurrency,
            budget=None,
            on_budget="refuse",
            dry_run=False,
            mode="auto",
            verbose=verbose,
            # A journal of the demo's own: the next demo's emulator knows none of these ids.
            **({"journal": journal} if journal else {}),
        )
        repository = _repository_panel(credentials, archive) if journal else None
        return report, emulator.stats(), repository


def _repository_panel(credentials: Any, archive: str) -> Panel:
    """The repository's newest commit and its dataset table, as the demo's closing panel."""
    import asyncio

    from rich.console import Group
    from rich.table import Table

    from prefect_oxen.client import OxenRepoUri

    uri = OxenRepoUri.parse(archive)
    table_path = uri.join("dataset.jsonl").path

    async def read() -> tuple[Any, bytes]:
        async with credentials.get_async_client() as client:
            repo = client.repository(uri.namespace, uri.repo)
            [commit] = await repo.commit_log(uri.branch, limit=1)
            return commit, await repo.read_bytes(uri.branch, table_path)

    commit, data = asyncio.run(read())
    rows = Table("path", "prompt", "model", "s", "cost", "sha256", title=table_path)
    for line in data.decode().splitlines():
        row = json.loads(line)
        cost = row.get("cost_usd")
        rows.add_row(
            row["path"],
            str(row.get("prompt") or "")[:40],
            str(row.get("model") or ""),
            str(row.get("duration") or ""),
            f"${cost:.2f}" if isinstance(cost, (int, float)) else "",
            str(row.get("sha256") or "")[:12],
        )
    head = f"Commit [bold]{commit.id}[/] on {uri.branch} of {uri.namespace}/{uri.repo}:"
    return Panel.fit(Group(head, escape(commit.message), rows), title=f"Oxen repository {archive}")


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
