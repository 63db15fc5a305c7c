"""The emulator's command line (`python -m prefect_oxen.emulator`, `prefect-oxen emulator`):
serve in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Optional

import typer

from prefect_oxen.emulator._config import EmulatorConfig, FaultConfig
from prefect_oxen.emulator._server import EmulatorServer

_DEFAULTS = EmulatorConfig()
_FAULTS = FaultConfig()
_Rate = Annotated[float, typer.Option(min=0.0, max=1.0)]


def main(args: list[str] | None = None, prog_name: str | None = None) -> None:
    """Run `emulator_command` as a console command on `args` (default: the command line).

    Args:
        args: The command's arguments.
        prog_name: The name its usage line shows.
    """
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(emulator_command)
    app(args=args, prog_name=prog_name)


def emulator_command(
    port: int = 8765,
    host: str = "127.0.0.1",
    latency: float = _DEFAULTS.latency,
    latency_jitter: float = _DEFAULTS.latency_jitter,
    concurrency: int = _DEFAULTS.concurrency,
    seed: int = _DEFAULTS.seed,
    url_ttl: float = _DEFAULTS.url_ttl,
    state_dir: Optional[Path] = None,  # noqa: UP045 (typer needs Optional on 3.10)
    api_key: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            envvar="OXEN_API_KEY",
            help="Accepted API key (repeatable; default $OXEN_API_KEY); with none, any token "
            "but a masked one (all `*`) is accepted.",
        ),
    ] = None,
    credits_usd: Optional[float] = None,  # noqa: UP045
    insufficient_credits_status: int = _DEFAULTS.insufficient_credits_status,
    video_padding_bytes: int = 0,
    reuse_renders: bool = False,
    keepalive_interval: float = _DEFAULTS.keepalive_interval,
    noise_events: bool = True,
    wrap_validation_messages: bool = True,
    serve_current_paths: bool = True,
    rate_limit: _Rate = 0.0,
    retry_after: float = _FAULTS.retry_after,
    server_error: _Rate = 0.0,
    unavailable: _Rate = 0.0,
    connection_reset: _Rate = 0.0,
    truncated_download: _Rate = 0.0,
    slow_body: _Rate = 0.0,
    slow_body_bytes_per_second: int = _FAULTS.slow_body_bytes_per_second,
    expired_url: _Rate = 0.0,
    generation_failure: _Rate = 0.0,
    fault_route: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(help='Only fault this route, e.g. "POST /api/ai/queue" (repeatable).'),
    ] = None,
    fault_limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Inject at most this many faults in total."),
    ] = None,
) -> None:
    """Run an Oxen-compatible emulator (real mp4s, queue, SSE, faults) until Ctrl-C."""
    options = locals()  # the parameters, named as the config fields they set
    faults = {name: options[name] for name in FaultConfig.model_fields if name in options}
    config = EmulatorConfig(
        **{name: options[name] for name in EmulatorConfig.model_fields if name in options},
        api_keys=api_key or None,
        faults=FaultConfig(**faults, routes=fault_route or None, limit=fault_limit),
    )
    server = EmulatorServer(config)
    typer.echo(f"Oxen emulator listening on http://{host}:{port} (Ctrl-C to stop)")
    serve_until_stopped(server)


class _Terminated(Exception):
    """SIGTERM arrived: stop like Ctrl-C does."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    """The SIGTERM handler outside uvicorn's own (before it starts, and the re-raise after)."""
    raise _Terminated


def serve_until_stopped(server: EmulatorServer) -> None:
    """Serve in the foreground until Ctrl-C or SIGTERM, then remove the emulator's temp files.

    uvicorn shuts down gracefully on either signal and then raises it again; with SIGTERM's
    default action the process would end right there, before any clean-up of this process ran.
    Here SIGTERM ends the command like Ctrl-C: "stopped", exit 0, and the ``oxen-emulator-*``
    temporary directory removed (also when the signal came before the server was up).

    Args:
        server: The emulator to serve.
    """
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        # uvicorn re-raises the captured signal after its graceful shutdown (or just returns,
        # depending on when asyncio sees it): either is the normal way to stop, not an error.
        with contextlib.suppress(KeyboardInterrupt, _Terminated):
            server.serve_forever()
        typer.echo("Oxen emulator stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        # Nothing writes there any more: the server's loop and its render threads are done.
        if (emulator := server.emulator) is not None:
            emulator.remove_temp_dir()
