"""Ctrl-C and SIGTERM as a clean stop of the flow run the CLI is running.

The flow runs on its own event loop in a worker thread, and the main thread only waits for it:
Python delivers signals to the main thread, so a stop request arrives there as `StopRequested`
without cutting through the event loop (Prefect's own SIGTERM handler, which raises from
wherever the loop happens to be, is not installed outside the main thread). The main thread
then cancels the flow's task: the engine marks the run Crashed and runs its hooks, which cancel
what the run left on the API. A second signal while that happens quits at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prefect_oxen.cli._output import err_console

if TYPE_CHECKING:
    from prefect_oxen.engine import CancellationOutcome, GenerationCancel

__all__ = ["StopRequested", "print_stop_report", "run_flow_state", "run_stoppable", "stop_signals"]

T = TypeVar("T")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(BaseException):
    """SIGINT or SIGTERM asked the CLI to stop.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way swallows
    it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + the signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum

    @property
    def description(self) -> str:
        """The signal as the stop report names it ("Ctrl-C (SIGINT)", "SIGTERM").

        Returns:
            A short human name of the signal.
        """
        return (
            "Ctrl-C (SIGINT)" if self.signum == signal.SIGINT else signal.Signals(self.signum).name
        )


@contextmanager
def stop_signals() -> Iterator[None]:
    """While active, SIGINT and SIGTERM raise `StopRequested` in the main thread.

    A second signal ends the process at once. Does nothing outside the main thread.

    Yields:
        Nothing; the previous handlers are restored when the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if stopping:
            _quit_now(signum)
        stopping = True
        raise StopRequested(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_flow_state(flow: Any, parameters: dict[str, Any]) -> Any:
    """Run ``flow(**parameters)`` here and return its final state.

    The run uses Prefect's temporary server (started in its own session) unless an API is
    configured. SIGINT (Ctrl-C) and SIGTERM stop the run cleanly: its hooks cancel what it left
    running on the API and the user is told what was cancelled.

    Args:
        flow: A Prefect flow.
        parameters: Its parameters.

    Returns:
        The flow run's final Prefect state.

    Raises:
        typer.Exit: 130 / 143 when a signal stopped the run.
    """
    import typer

    from prefect_oxen.cli._server import start_ephemeral_server
    from prefect_oxen.engine import cancellation_outcomes

    earlier = set(cancellation_outcomes())
    with stop_signals():
        try:
            start_ephemeral_server()
        except StopRequested as stop:
            err_console().print(
                f"[bold yellow]Stopped[/] by {stop.description} before anything was submitted."
            )
            raise typer.Exit(stop.exit_code) from None
        try:
            return run_stoppable(lambda: flow(**parameters, return_state=True))
        except StopRequested as stop:
            outcomes = [o for run_id, o in cancellation_outcomes().items() if run_id not in earlier]
            print_stop_report(stop, outcomes, parameters.get("archive", "DIR"))
            raise typer.Exit(stop.exit_code) from None


def _quit_now(signum: int) -> None:
    """The second signal: say what may still be billed, and end the process at once."""
    from prefect_oxen.engine import still_billed_advice

    err_console().print(
        "[bold red]Stopped at once[/], leaving on the API the generations this run had submitted. "
        + still_billed_advice("--archive DIR", rerun="command")
    )
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(128 + signum)


def run_stoppable(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `make_coroutine()` to completion on its own loop in a worker thread.

    On `StopRequested` (see `stop_signals`) the coroutine is cancelled and its clean-up awaited,
    then `StopRequested` is raised again. Outside the main thread it simply runs here.

    Args:
        make_coroutine: Makes the coroutine (called in the worker thread's context copy).

    Returns:
        The coroutine's result.

    Raises:
        StopRequested: A signal stopped it (after its clean-up ran).
    """
    if threading.current_thread() is not threading.main_thread():
        return asyncio.run(make_coroutine())
    worker = _LoopThread(make_coroutine)
    try:
        worker.start()
        worker.wait()
    except StopRequested:
        worker.cancel()
        worker.wait()
        raise
    return worker.outcome()


class _LoopThread(threading.Thread, Generic[T]):
    """A thread running one coroutine under `asyncio.run`, in a copy of the caller's context
    (Prefect's settings and client contexts are context variables)."""

    def __init__(self, make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> None:
        # Daemon: if the user insists on quitting, the interpreter must not wait for it.
        super().__init__(name="prefect-oxen-flow", daemon=True)
        self._make_coroutine = make_coroutine
        self._context = contextvars.copy_context()
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._results: list[T] = []  # the one result, once there is one (T may be None)
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run the coroutine under `asyncio.run`; its outcome is kept for the main thread."""
        try:
            self._context.run(asyncio.run, self._main())
        except BaseException as exc:  # reported to the main thread
            self._error = exc
        finally:
            self._ready.set()
            self._finished.set()

    def wait(self) -> None:
        """Until the coroutine has finished; a signal handler's exception interrupts it.

        Not `join()`: on Python 3.11 a `join()` interrupted by a signal handler's exception
        marks the thread stopped while it still runs, and the next `join()` returns at once.
        """
        while not self._finished.wait(0.5):
            pass

    async def _main(self) -> None:
        """The coroutine itself, recording the loop and task so `cancel` can reach them."""
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        self._ready.set()
        try:
            self._results.append(await self._make_coroutine())
        except BaseException as exc:  # the cancellation asked for, or the run's own error
            self._error = exc

    def cancel(self) -> None:
        """Cancel the coroutine's task from another thread (once it has started)."""
        self._ready.wait()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)

    def outcome(self) -> T:
        """The coroutine's result.

        Returns:
            What the coroutine returned.

        Raises:
            BaseException: What the coroutine (or `asyncio.run`) raised, cancellation included.
        """
        if self._error is not None:
            raise self._error
        return self._results[0]


def print_stop_report(
    stop: StopRequested, outcomes: list[CancellationOutcome], archive: Any
) -> None:
    """Tell the user what the stop did on the API: what it cancelled and what it could not.

    Args:
        stop: The signal that stopped the run.
        outcomes: What the stop hooks of the run's flow runs did.
        archive: The run's archive, for the `prefect-oxen cancel` hint.
    """
    from prefect_oxen.engine import still_billed_advice

    out = err_console()
    out.print(f"[bold yellow]Stopped[/] by {stop.description}.")
    if not outcomes:
        out.print(
            "The run ended before it could check the generations it had submitted. "
            + still_billed_advice(f"--archive {archive}", rerun="command")
        )
        return
    cancelled = [g for outcome in outcomes for g in outcome.cancelled]
    kept = [g for outcome in outcomes for g in outcome.not_cancelled]
    if cancelled:
        out.print(
            f"Cancelled {len(cancelled)} generation(s) this run left on the API (not billed): "
            + ", ".join(_describe(g) for g in cancelled)
            + "."
        )
    if kept:
        problems = {outcome.problem for outcome in outcomes if outcome.problem}
        out.print(
            f"[bold red]Could not cancel {len(kept)} generation(s)[/]"
            + (f" ({'; '.join(sorted(problems))})" if problems else "")
            + ": "
            + "; ".join(f"{_describe(g)}: {g.detail}" for g in kept)
            + ". "
            + still_billed_advice(f"--archive {archive}", rerun="command")
        )
    finished = [g for outcome in outcomes for g in outcome.finished]
    if finished:
        out.print(
            f"{len(finished)} generation(s) had already finished (paid, not lost): re-running "
            "the same command archives them without paying again: "
            + ", ".join(_describe(g) for g in finished)
            + "."
        )
    if not cancelled and not kept and not finished:
        out.print("Nothing this run paid for was left running on the API.")


def _describe(generation: GenerationCancel) -> str:
    """A generation as the stop report names it: its id, and its item key when known."""
    return (
        f"{generation.generation_id} ({generation.key})"
        if generation.key
        else generation.generation_id
    )
