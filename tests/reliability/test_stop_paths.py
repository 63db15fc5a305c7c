"""Every way a run stops cancels the generations it left on the API, with the real key, and the
next run never pays twice (issue 15).

The session emulator accepts only the suite's key, so a DELETE sent with a masked or missing key
is refused (401) and the generation would stay running: "cancelled" below proves the real key
went out. Waits are on conditions ("the API holds the jobs"), never on sleeps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from prefect.settings import PREFECT_API_URL

from prefect_oxen import OxenCredentials
from prefect_oxen.client import OxenClient, RetryPolicy, VideoRequest
from prefect_oxen.engine import cancel_remote_generations, cancellation_outcome
from prefect_oxen.engine._run_state import run_state_at
from prefect_oxen.engine._stop import remember_run
from prefect_oxen.tasks import GenerationJournal, JournalEntry
from tests.support import FAST, wait_for

from ..conftest import API_KEY, FAST_POLL
from ..deployments.processes import BIN, prefect_env
from .helpers import journal_states

pytestmark = pytest.mark.slow

CLI = str(BIN / "prefect-oxen")
CHILD = Path(__file__).with_name("batch_child.py")
DELETE = "DELETE /api/ai/queue/{generation_id}"
ACTIVE = {"queued", "processing"}


# --- helpers --------------------------------------------------------------------------------


def _active(emulator, count: int) -> list[dict] | None:
    """The emulator's generations once `count` of them are queued or running, else None."""
    generations = emulator.generations()
    running = [g for g in generations if g["status"] in ACTIVE]
    return running if len(running) >= count else None


def _assert_cancelled_unbilled(emulator, ids: list[str]) -> None:
    wait_for(
        lambda: all(g["status"] == "cancelled" for g in emulator.generations() if g["id"] in ids),
        timeout=30,
        what="the generations to be cancelled on the API",
    )
    log = {g["id"]: g for g in emulator.generations()}
    assert {log[i]["status"] for i in ids} == {"cancelled"}
    assert not any(log[i]["billed"] for i in ids)
    assert emulator.stats()["billed_generations"] == 0


class _Cli:
    """`prefect-oxen ARGS` in its own session (as a terminal's foreground job), output on disk."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.out, self.err = (
            cwd / f"cli-{uuid.uuid4().hex[:6]}.out",
            cwd / f"cli-{uuid.uuid4().hex[:6]}.err",
        )
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [CLI, *args],
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def alive_or_fail(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(
                f"the CLI exited {self.process.returncode} early:\n{self.stderr()[-3000:]}"
            )
        return True

    def signal_group(self, signum: int) -> None:
        """What a terminal does on Ctrl-C (or a scheduler with SIGTERM): the whole group."""
        os.killpg(self.process.pid, signum)

    def wait(self, timeout: float = 90) -> int:
        return self.process.wait(timeout)

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def _wait_until_the_api_holds(cli: _Cli, emulator, count: int) -> list[str]:
    running = wait_for(
        lambda: cli.alive_or_fail() and _active(emulator, count),
        timeout=150,
        what=f"{count} generation(s) queued on the API",
    )
    return [g["id"] for g in running]


def _servers_of(home: Path) -> list[int]:
    """Pids of Prefect server processes whose PREFECT_HOME is `home` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"uvicorn" in cmdline and f"PREFECT_HOME={home}".encode() in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def _batch_file(path: Path, count: int, tag: str) -> Path:
    rows = [
        {"id": f"s{i}", "model": FAST, "prompt": f"{tag} {i}", "duration": 1} for i in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _command(command: str, workdir: Path, unique: str, count: int) -> list[str]:
    archive = str(workdir / "archive")
    if command == "generate":
        return [
            "generate",
            "--model",
            FAST,
            "--prompt",
            f"stop {unique}",
            "--duration",
            "1",
            "--mode",
            "queue",
            "--id",
            "s0",
            "--archive",
            archive,
        ]
    return [
        "batch",
        str(_batch_file(workdir / "batch.jsonl", count, f"stop {unique}")),
        "--mode",
        "queue",
        "--archive",
        archive,
    ]


def _assert_clean_stop(cli: _Cli, code: int, count: int) -> None:
    output = cli.stdout() + cli.stderr()
    assert code == cli.wait(), output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert API_KEY not in output
    assert f"Cancelled {count} generation(s)" in " ".join(cli.stderr().split()), output[-3000:]


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One PREFECT_HOME for the CLI runs on the ephemeral server (its database is reused)."""
    return tmp_path_factory.mktemp("cli-prefect-home")


# --- a terminal's Ctrl-C / SIGTERM on the CLI -------------------------------------------------


@pytest.mark.parametrize(
    ("command", "signum", "count"),
    [("generate", signal.SIGINT, 1), ("batch", signal.SIGTERM, 4)],
    ids=["generate-ctrl-c", "batch-sigterm"],
)
def test_a_signal_to_the_terminal_group_on_the_ephemeral_server_cancels_what_the_cli_paid_for(
    emulator, workdir: Path, unique: str, cli_home: Path, command: str, signum: int, count: int
) -> None:
    """The group includes Prefect's temporary server: it must survive to record the stop."""
    emulator.configure(latency=60)  # generations stay in flight until cancelled
    env = prefect_env(cli_home, OXEN_API_KEY=API_KEY, OXEN_BASE_URL=emulator.base_url)
    cli = _Cli(_command(command, workdir, unique, count), env=env, cwd=workdir)
    try:
        ids = _wait_until_the_api_holds(cli, emulator, count)
        cli.signal_group(signum)
        _assert_clean_stop(cli, 128 + signum, count)
    finally:
        cli.kill()
    _assert_cancelled_unbilled(emulator, ids)
    assert emulator.stats()["requests"].get(DELETE, 0) >= count
    # Confirmed cancelled, so a re-run submits anew instead of waiting on a dead generation.
    assert set(journal_states(workdir / "archive" / ".oxen-journal.jsonl").values()) == {"failed"}
    wait_for(
        lambda: not _servers_of(cli_home), timeout=15, what="the CLI's temporary server to stop"
    )


@pytest.mark.parametrize(
    ("command", "signum", "count"),
    [("generate", signal.SIGTERM, 1), ("batch", signal.SIGINT, 3)],
    ids=["generate-sigterm", "batch-ctrl-c"],
)
def test_a_stop_cancels_with_the_saved_blocks_key_when_the_environment_has_none(
    emulator, workdir: Path, unique: str, command: str, signum: int, count: int
) -> None:
    """Only the flow body ever held the key (loaded from the block): Prefect's stored parameters
    carry it masked, and the environment has none to fall back on."""
    block = f"stop-{uuid.uuid4().hex[:8]}"
    OxenCredentials(
        api_key=API_KEY, base_url=emulator.base_url, retry=RetryPolicy.immediate(), poll=FAST_POLL
    ).save(block)
    emulator.configure(latency=60)
    env = prefect_env(workdir / "home", PREFECT_API_URL=PREFECT_API_URL.value())
    cli = _Cli(
        [*_command(command, workdir, unique, count), "--credentials-block", block],
        env=env,
        cwd=workdir,
    )
    try:
        ids = _wait_until_the_api_holds(cli, emulator, count)
        cli.signal_group(signum)
        _assert_clean_stop(cli, 128 + signum, count)
    finally:
        cli.kill()
    _assert_cancelled_unbilled(emulator, ids)


# --- a crash: SIGKILL, then the cleanup command or the next run ---------------------------------


def test_after_sigkill_the_cancel_command_cancels_what_the_run_left(
    emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=60)
    env = prefect_env(
        workdir / "home",
        PREFECT_API_URL=PREFECT_API_URL.value(),
        OXEN_API_KEY=API_KEY,
        OXEN_BASE_URL=emulator.base_url,
    )
    cli = _Cli(_command("batch", workdir, unique, 3), env=env, cwd=workdir)
    try:
        ids = _wait_until_the_api_holds(cli, emulator, 3)
        journal = workdir / "archive" / ".oxen-journal.jsonl"
        wait_for(
            lambda: list(journal_states(journal).values()).count("enqueued") == 3,
            timeout=30,
            what="the journal",
        )
    finally:
        cli.kill()  # no hook runs: the generations keep running
    assert all(g["status"] in ACTIVE for g in emulator.generations())

    done = subprocess.run(
        [CLI, "cancel", "--archive", str(workdir / "archive")],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Cancelled 3 generation(s)" in done.stdout
    assert API_KEY not in done.stdout + done.stderr
    _assert_cancelled_unbilled(emulator, ids)
    assert set(journal_states(journal).values()) == {"failed"}

    again = subprocess.run(
        [CLI, "cancel", "--archive", str(workdir / "archive")],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "Nothing to cancel" in again.stdout


async def test_a_failed_cancel_leaves_the_generations_for_the_next_run_to_collect(
    credentials, emulator, workdir: Path, unique: str, monkeypatch, caplog
) -> None:
    """A crash whose hook has no usable key: nothing is sent, nothing is marked failed, the
    user is told loudly, and the next run reattaches (billed once per item, not twice)."""
    from prefect_oxen.flows import batch_flow

    from .helpers import report_of

    emulator.configure(latency=2)
    items = [
        {"id": f"f{i}", "model": FAST, "prompt": f"failed cancel {unique} {i}", "duration": 1}
        for i in range(3)
    ]
    archive = workdir / "archive"
    journal = archive / ".oxen-journal.jsonl"
    child = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            emulator.base_url,
            API_KEY,
            str(archive),
            json.dumps(items),
            "3",
        ],
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: list(journal_states(journal).values()).count("enqueued") == 3,
            timeout=120,
            what="the child to have its generations enqueued",
        )
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(30)
    [run_id] = {
        entry.detail["flow_run_id"] for entry in GenerationJournal(journal).latest().values()
    }

    # What the hook of that run gets from Prefect: the inline block with its key masked.
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    masked = {"api_key": "**********", "base_url": emulator.base_url}
    with caplog.at_level(logging.ERROR, logger="prefect_oxen"):
        cancel_remote_generations(
            None,
            SimpleNamespace(id=run_id, parameters={"credentials": masked, "archive": str(archive)}),
            SimpleNamespace(name="Crashed"),
        )
    assert emulator.stats()["requests"].get(DELETE, 0) == 0  # never a masked key on the wire
    assert set(journal_states(journal).values()) == {"enqueued"}
    outcome = cancellation_outcome(run_id)
    assert outcome is not None and len(outcome.not_cancelled) == 3 and outcome.problem
    assert (
        "Could not cancel 3 Oxen generation(s)" in caplog.text
        and "prefect-oxen cancel" in caplog.text
    )

    state = await batch_flow(
        items, credentials, archive=str(archive), concurrency_limit=None, return_state=True
    )
    assert state.is_completed(), state.message
    report = await report_of(state)
    assert report.count("archived") == 3
    assert all(item.reattached for item in report.items)
    assert emulator.stats()["billed_generations"] == 3


# --- the hook on its own: which key it sends, what it journals -------------------------------


def _enqueue(emulator, journal: GenerationJournal, run_id: str, count: int, tag: str) -> list[str]:
    with OxenClient(api_key=API_KEY, base_url=emulator.base_url) as oxen:
        ids = [
            oxen.enqueue(VideoRequest(model=FAST, prompt=f"{tag} {i}", duration=1))[0].generation_id
            for i in range(count)
        ]
    for i, generation_id in enumerate(ids):
        journal.record(
            JournalEntry(
                identity=f"{tag}-{i}",
                state="enqueued",
                mode="queue",
                generation_ids=[generation_id],
                detail={"flow_run_id": run_id, "key": f"{tag}-{i}"},
            )
        )
    return ids


def _hook(run_id: str, credentials, archive: Path) -> None:
    parameters = {"credentials": credentials, "archive": str(archive)}
    cancel_remote_generations(
        None, SimpleNamespace(id=run_id, parameters=parameters), SimpleNamespace(name="Cancelling")
    )


def test_the_hook_uses_the_credentials_its_run_remembered(
    emulator, workdir: Path, unique: str, monkeypatch
) -> None:
    """The flow body remembered the resolved block; the stored parameters hold only the mask."""
    emulator.configure(latency=60)
    archive = workdir / "archive"
    journal_path = archive / ".oxen-journal.jsonl"
    run_id = str(uuid.uuid4())
    ids = _enqueue(emulator, GenerationJournal(journal_path), run_id, 2, f"remembered {unique}")
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    monkeypatch.setenv("PREFECT__FLOW_RUN_ID", run_id)  # what prefect.runtime reads outside a run
    remember_run(
        OxenCredentials(api_key=API_KEY, base_url=emulator.base_url), run_state_at(journal_path)
    )
    _hook(run_id, {"api_key": "**********", "base_url": emulator.base_url}, archive)
    _assert_cancelled_unbilled(emulator, ids)
    assert set(journal_states(journal_path).values()) == {"failed"}
    assert [g.generation_id for g in cancellation_outcome(run_id).cancelled] == ids


@pytest.mark.parametrize("given", ["env", "name", "ref", "masked-inline-with-env"])
def test_the_hook_resolves_each_form_of_credentials_parameter(
    emulator, workdir: Path, unique: str, monkeypatch, given: str
) -> None:
    """Without a remembered run (another process): env, saved block name, $ref, and an inline
    block whose masked key is replaced by OXEN_API_KEY."""
    emulator.configure(latency=60)
    archive = workdir / "archive"
    run_id = str(uuid.uuid4())
    ids = _enqueue(
        emulator, GenerationJournal(archive / ".oxen-journal.jsonl"), run_id, 1, f"{given} {unique}"
    )
    monkeypatch.delenv("OXEN_API_KEY", raising=False)
    monkeypatch.setenv("OXEN_BASE_URL", emulator.base_url)
    block = f"hook-{uuid.uuid4().hex[:8]}"
    if given in ("name", "ref"):
        OxenCredentials(api_key=API_KEY, base_url=emulator.base_url).save(block)
    else:
        monkeypatch.setenv("OXEN_API_KEY", API_KEY)
    credentials = {
        "env": None,
        "name": block,
        "ref": {"$ref": {"block_document_slug": f"oxen-credentials/{block}"}},
        "masked-inline-with-env": {"api_key": "**********", "base_url": emulator.base_url},
    }[given]
    _hook(run_id, credentials, archive)
    _assert_cancelled_unbilled(emulator, ids)


def test_a_generation_that_already_succeeded_is_kept_for_the_next_run(
    emulator, workdir: Path, unique: str
) -> None:
    """Cancelling a finished generation has no effect: it is paid, so it must stay collectable."""
    archive = workdir / "archive"
    journal_path = archive / ".oxen-journal.jsonl"
    run_id = str(uuid.uuid4())
    [generation_id] = _enqueue(
        emulator, GenerationJournal(journal_path), run_id, 1, f"done {unique}"
    )
    wait_for(
        lambda: (
            {g["id"]: g["status"] for g in emulator.generations()}[generation_id] == "succeeded"
        ),
        timeout=30,
        what="the generation to succeed",
    )
    _hook(run_id, OxenCredentials(api_key=API_KEY, base_url=emulator.base_url), archive)
    assert journal_states(journal_path) == {f"done {unique}-0": "enqueued"}
    outcome = cancellation_outcome(run_id)
    # Paid and collectable: not reported as something that may still be billed.
    assert outcome.not_cancelled == []
    [kept] = outcome.finished
    assert kept.generation_id == generation_id and "succeeded" in kept.detail


# --- the CLI's stop mechanism on its own --------------------------------------------------------


def test_a_stop_signal_cancels_the_running_coroutine_and_waits_for_its_clean_up() -> None:
    """What `prefect-oxen` does on SIGTERM/SIGINT: the flow's coroutine (on its own thread) is
    cancelled and its clean-up (the engine's crash handling and hooks) finishes before the
    CLI exits 143 / 130; the previous signal handlers come back afterwards."""
    import asyncio
    import threading

    from prefect_oxen.cli._signals import StopRequested, run_stoppable, stop_signals

    started, cleaned_up = threading.Event(), threading.Event()

    async def long_run() -> None:
        started.set()
        try:
            await asyncio.sleep(120)
        finally:
            await asyncio.sleep(0.2)  # clean-up that itself awaits, like the crash handling
            cleaned_up.set()

    def terminate_when_started() -> None:
        if started.wait(30):
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=terminate_when_started, daemon=True).start()
    with pytest.raises(StopRequested) as stopped, stop_signals():
        run_stoppable(long_run)
    assert stopped.value.exit_code == 143
    assert cleaned_up.is_set()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_run_that_reattached_cancels_what_it_reattached_to_when_stopped(
    emulator, workdir: Path, unique: str
) -> None:
    emulator.configure(latency=60)
    items = [
        {"id": f"r{i}", "model": FAST, "prompt": f"reattached {unique} {i}", "duration": 1}
        for i in range(2)
    ]
    archive = workdir / "archive"
    journal = archive / ".oxen-journal.jsonl"
    first = subprocess.Popen(
        [
            sys.executable,
            str(CHILD),
            emulator.base_url,
            API_KEY,
            str(archive),
            json.dumps(items),
            "2",
        ],
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(
            lambda: list(journal_states(journal).values()).count("enqueued") == 2,
            timeout=120,
            what="run one to enqueue",
        )
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    batch = workdir / "batch.jsonl"
    batch.write_text("".join(json.dumps(item) + "\n" for item in items))
    env = prefect_env(
        workdir / "home",
        PREFECT_API_URL=PREFECT_API_URL.value(),
        OXEN_API_KEY=API_KEY,
        OXEN_BASE_URL=emulator.base_url,
    )
    second = _Cli(
        ["batch", str(batch), "--mode", "queue", "--archive", str(archive)], env=env, cwd=workdir
    )
    try:
        # Run two has reattached once it has read each generation back.
        wait_for(
            lambda: (
                second.alive_or_fail()
                and emulator.stats()["requests"].get("GET /api/ai/queue/{generation_id}", 0) >= 2
            ),
            timeout=120,
            what="run two to reattach",
        )
        second.signal_group(signal.SIGINT)
        _assert_clean_stop(second, 130, 2)
    finally:
        second.kill()
    _assert_cancelled_unbilled(emulator, [g["id"] for g in emulator.generations()])
