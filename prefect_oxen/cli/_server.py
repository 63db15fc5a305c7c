"""The CLI's ephemeral Prefect server, started in its own session so Ctrl-C reaches only the CLI.

When no Prefect API is configured, Prefect starts a temporary server as a child process on first
use. That child shares the terminal's foreground process group, so a real Ctrl-C (SIGINT to the
whole group) or a scheduler's SIGTERM to the group kills the server too, while the CLI still
needs it to record the stop and run the hooks that cancel paid generations: the CLI then hung.
Starting the same server ourselves, first, in a new session keeps terminal signals for the CLI;
Prefect's own code then finds it running and reuses it, and stops it at exit as usual.

Prefect offers no setting for how that process is launched, so this module subclasses its
private `SubprocessASGIServer` and repeats its command. It does so only on the Prefect releases
it was checked against (`TESTED_PREFECT`; tests/cli/test_server.py compares the command with
Prefect's own); on any other Prefect starts its server itself, and the CLI says what that means.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
from typing import Any

from prefect_oxen.cli._output import err_console

__all__ = ["TESTED_PREFECT", "prefect_tested", "start_ephemeral_server"]

# (major, minor) releases of Prefect whose private server class and command this module repeats.
TESTED_PREFECT = ((3, 9),)


def start_ephemeral_server() -> None:
    """Start Prefect's temporary server now, outside the terminal's process group.

    A no-op when a Prefect API is configured or the temporary server already runs. Must be called
    from the main thread (the server is stopped if the thread that started it dies).
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():  # Prefect uses that API, not a temporary server
        return
    if not prefect_tested():
        import prefect

        err_console().print(
            f"[yellow]Note:[/] prefect-oxen was not tested with Prefect {prefect.__version__}: "
            "Prefect's temporary server shares the terminal, so Ctrl-C may stop it before the "
            "run records the stop (set PREFECT_API_URL to a running server to avoid this)."
        )
        return
    from prefect.server.api.server import SubprocessASGIServer

    current = SubprocessASGIServer._instances.get(None)
    if current is not None and current.running:
        return
    _server_class()().start()


def prefect_tested() -> bool:
    """Whether the installed Prefect is one of `TESTED_PREFECT`.

    Returns:
        True when its major and minor version are listed.
    """
    import prefect
    from packaging.version import Version

    return Version(prefect.__version__).release[:2] in TESTED_PREFECT


@functools.lru_cache(maxsize=1)
def _server_class() -> type:
    """The `SubprocessASGIServer` subclass, built once (Prefect's server is imported on use)."""
    from prefect.server.api.server import SubprocessASGIServer

    class SessionLeaderServer(SubprocessASGIServer):
        """Prefect's temporary server, launched with ``start_new_session=True``.

        A subclass rather than our own server: `SubprocessASGIServer` keeps one instance per
        port in a registry shared by the class hierarchy, so when Prefect later asks for the
        temporary server (``SubprocessASGIServer()``) it gets this one, already running, and
        keeps its own start/stop semantics (health check, port retry, stop at exit). Only the
        way the process is launched differs.
        """

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            """Prefect's own server command (as of `TESTED_PREFECT`), launched in a new session."""
            import prefect
            from prefect.settings import get_current_settings

            server_env = {
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
                "PREFECT__SERVER_FINAL": "1",
            }
            return subprocess.Popen(
                args=[
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--app-dir",
                    str(prefect.__module_path__.parent),
                    "--factory",
                    "prefect.server.api.server:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "error",
                    "--lifespan",
                    "on",
                ],
                env={
                    **os.environ,
                    **server_env,
                    **get_current_settings().to_environment_variables(exclude_unset=True),
                },
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    return SessionLeaderServer


def _die_with_parent() -> None:
    """In the server child (Linux): be terminated when the CLI dies, even by SIGKILL.

    Out of the CLI's process group nothing else would stop it, and an orphaned server would
    hold the Prefect database and a port forever.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # not glibc-like: the atexit stop still applies
        pass
