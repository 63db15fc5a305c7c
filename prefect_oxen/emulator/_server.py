"""Running the emulator: in a background thread for tests, or in the foreground for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import uvicorn

from prefect_oxen.emulator._app import create_app
from prefect_oxen.emulator._config import EmulatorConfig, FaultConfig
from prefect_oxen.emulator._engine import Emulator

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
R = TypeVar("R")


class _Server(uvicorn.Server):
    """uvicorn.Server that ends long-lived responses before waiting for connections to close.

    uvicorn's shutdown waits for in-flight responses; an SSE stream never finishes on its
    own, so without this hook stopping (or Ctrl-C) would hang until the graceful timeout.
    """

    def __init__(self, config: uvicorn.Config, emulator: Any) -> None:
        super().__init__(config)
        self._emulator = emulator

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Tell the engine to end its event streams, then shut uvicorn down."""
        emulator: Emulator | None = self._emulator()
        if emulator is not None:
            emulator.begin_shutdown()
        await super().shutdown(sockets)


class EmulatorServer:
    """An Oxen-compatible emulator served by uvicorn; a context manager that starts and stops it.

    `EmulatorServer(cfg)` or `EmulatorServer(latency=0.5, faults={"server_error": 0.1})`.

    Args:
        config: The settings to start with; None means `EmulatorConfig()`'s defaults.
        **overrides: `EmulatorConfig` fields that replace those of `config`.
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        base = config if config is not None else EmulatorConfig()
        if overrides:
            base = EmulatorConfig.model_validate({**base.model_dump(), **overrides})
        self._initial = base
        self._app = create_app(self._initial)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._server: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None

    # -- properties ------------------------------------------------------------------------

    @property
    def emulator(self) -> Emulator | None:
        """The running state (None before start)."""
        return getattr(self._app.state, "emulator", None)

    @property
    def config(self) -> EmulatorConfig:
        """The configuration in force (reflects run-time changes)."""
        emulator = self.emulator
        return emulator.config if emulator is not None else self._initial

    @property
    def port(self) -> int:
        """The bound TCP port (known once started)."""
        if self._socket is None:
            raise RuntimeError("the emulator is not running")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def base_url(self) -> str:
        """`http://host:port`, the value to give a client as its base URL."""
        host = self._initial.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    # -- lifecycle -------------------------------------------------------------------------

    def _bind(self) -> socket.socket:
        """A listening TCP socket on the configured host and port (0 picks a free one)."""
        family = socket.AF_INET6 if ":" in self._initial.host else socket.AF_INET
        # proto must be IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted
        # sockets whose proto says TCP, and without it every response costs a 40 ms
        # delayed-ACK stall (uvicorn writes headers and body separately).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._initial.host, self._initial.port))
        sock.listen(1024)
        sock.setblocking(False)
        return sock

    def _uvicorn(self, foreground: bool = False) -> _Server:
        """The uvicorn server for the app; embedded servers keep the host's logging."""
        extra: dict[str, Any] = {}
        if not foreground:
            # Embedded (tests, flows): leave the host application's logging config alone.
            extra["log_config"] = None
        config = uvicorn.Config(
            self._app,
            **extra,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            # Only the h11 implementation exposes a transport we can abort for faults.
            http="h11",
            ws="none",
        )
        return _Server(config, lambda: self.emulator)

    def start(self) -> EmulatorServer:
        """Bind (port 0 picks a free port), start serving in a daemon thread, wait until ready.

        Returns:
            This server, running.

        Raises:
            RuntimeError: It is already running, or failed to start.
        """
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._socket = self._bind()
        self._server = self._uvicorn()
        self._failure = None
        self._thread = threading.Thread(target=self._run, name="oxen-emulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the emulator failed to start") from self._failure
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        """Serve in this thread until stopped, keeping any failure for start()/stop()."""
        assert self._server is not None and self._socket is not None
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() or stop()
            self._failure = exc

    async def _serve(self) -> None:
        """Serve on the bound socket, remembering the loop for cross-thread calls."""
        assert self._server is not None and self._socket is not None
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._socket])

    def stop(self) -> None:
        """Stop serving, end open streams, wait for the thread and close the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
            if self._thread.is_alive():
                self._server.force_exit = True  # type: ignore[union-attr]
                self._thread.join(_STOP_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._thread = self._server = self._socket = self._loop = None
        self._app = create_app(self._initial)

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C or SIGTERM (uvicorn installs the handlers).

        Returns when a signal stopped the server. uvicorn then raises the signal again, which
        may or may not surface here as KeyboardInterrupt depending on when asyncio's own SIGINT
        handler sees it, so callers treat a return and KeyboardInterrupt alike.

        Raises:
            RuntimeError: The server never started (uvicorn logged why).
        """
        self._socket = self._bind()
        server = self._server = self._uvicorn(foreground=True)
        try:
            asyncio.run(self._serve())
        finally:
            self._socket.close()
            self._socket = self._server = None
        if not server.started:
            raise RuntimeError("the emulator failed to start")

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- conveniences (thread-safe: they run on the server's loop) ---------------------------

    def _call(self, func: Callable[..., R], *args: Any) -> R:
        """Run `func(emulator, *args)` on the server's loop and return its result."""
        emulator, loop = self.emulator, self._loop
        if emulator is None or loop is None:
            raise RuntimeError("the emulator is not running")

        async def run() -> R:
            """Call `func` on the loop's thread."""
            return func(emulator, *args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result(_STOP_TIMEOUT)

    def stats(self) -> dict[str, Any]:
        """The emulator's counters, from its own loop.

        Returns:
            The same dict as GET /_emulator/stats.
        """
        return self._call(Emulator.snapshot)

    def generations(self) -> list[dict[str, Any]]:
        """Every generation the emulator knows, oldest first.

        Returns:
            The same list as GET /_emulator/generations.
        """
        return self._call(Emulator.generation_log)

    def repositories(self) -> list[dict[str, Any]]:
        """Every repository the emulator holds, with its branches, commits and workspaces.

        Returns:
            The same list as GET /_emulator/repositories.
        """
        return self._call(lambda emu: emu.repositories.snapshot())

    def reset(self, generations: bool = False) -> None:
        """Zero the counters (and forget generations when asked), like POST /_emulator/reset.

        Args:
            generations: Also forget every generation and rendered file.
        """
        self._call(Emulator.reset, generations)

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change settings at run time, like PATCH /_emulator/config (faults merge).

        Args:
            **changes: `EmulatorConfig` fields to change (not host, port, seed or state_dir).

        Returns:
            The configuration now in force.
        """
        return self._call(Emulator.update_config, changes)


@contextlib.contextmanager
def running_emulator(
    config: EmulatorConfig | None = None,
    *,
    faults: FaultConfig | dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[EmulatorServer]:
    """Start an emulator for the duration of a `with` block.

    Args:
        config: The settings to start from; None means the defaults.
        faults: Fault rates, as a `FaultConfig` or a plain dict.
        **settings: `EmulatorConfig` fields that replace those of `config`.

    Yields:
        The running `EmulatorServer`, stopped when the block ends.
    """
    if faults is not None:
        settings["faults"] = faults if isinstance(faults, FaultConfig) else FaultConfig(**faults)
    data = (config or EmulatorConfig()).model_dump()
    data.update(settings)
    with EmulatorServer(EmulatorConfig.model_validate(data)) as server:
        yield server
