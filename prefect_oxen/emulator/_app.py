"""The Starlette application: routes, auth, fault injection and the hub's response shapes."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from prefect_oxen.emulator._catalogue import CATALOGUE, Model, find_model
from prefect_oxen.emulator._config import EmulatorConfig
from prefect_oxen.emulator._connection import (
    RAW_SEND_KEY,
    ConnectionDropUnsupported,
    drop_connection,
)
from prefect_oxen.emulator._downloads import FileBody, b64_json_body, parse_range
from prefect_oxen.emulator._engine import Emulator, GenerationFailed, ModelNotFound
from prefect_oxen.emulator._errors import (
    error_response,
    model_not_found_response,
    not_found_response,
)
from prefect_oxen.emulator._repo_routes import REPOSITORY_ROUTES, problem_response, repository_log
from prefect_oxen.emulator._repositories import RepoProblem
from prefect_oxen.emulator._signing import Verdict
from prefect_oxen.emulator._sse import EventStream
from prefect_oxen.emulator._store import ACTIVE, STATUSES, Generation
from prefect_oxen.emulator._validation import InvalidRequest

Handler = Callable[[Request, Emulator], Awaitable[ASGIApp]]


@dataclass(frozen=True)
class Endpoint:
    """One route and the cross-cutting rules that apply to it."""

    method: str
    template: str
    handler: Handler
    api: bool = True  # Bearer auth and API faults
    paid: bool = False  # a dropped connection happens after the work, not before
    current_only: bool = False  # 404 when serve_current_paths is off


class EmulatorApp(Starlette):
    """Starlette, plus the raw ASGI `send` kept in the scope so faults can drop connections."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope[RAW_SEND_KEY] = send
        await super().__call__(scope, receive, send)


def _base_url(request: Request) -> str:
    """The server's own URL as this request reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


async def _json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; InvalidRequest when it is not one."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise InvalidRequest("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object")
    return body


def _authorised(request: Request, emu: Emulator) -> bool:
    """True when the request carries a Bearer token the emulator accepts."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    # A key masked by a logger or by Prefect's parameter store (`**********`) is never a key:
    # the hub answers 401 to it, and so must the emulator, whatever it accepts otherwise.
    if scheme.lower() != "bearer" or not token or set(token) == {"*"}:
        return False
    keys = emu.config.api_keys
    return keys is None or token in keys


async def _api_fault(
    request: Request, emu: Emulator, route: str, paid: bool
) -> tuple[ASGIApp | None, bool]:
    """An immediate fault response, and whether to drop the connection after the work."""
    fault = emu.faults.draw_api(emu.config.faults, route)
    if fault == "rate_limit":
        retry_after = str(int(emu.config.faults.retry_after))
        detail = "Rate limit exceeded, retry later"
        return error_response(429, "rate_limited", detail, {"Retry-After": retry_after}), False
    if fault == "unavailable":
        return error_response(503, "unknown_error", "Service temporarily unavailable"), False
    if fault == "server_error":
        return error_response(500, "unknown_error", "Internal server error"), False
    if fault == "connection_reset":
        if paid:
            return None, True
        await _drop(request)
        return Response(status_code=500), False  # discarded: the connection is gone
    return None, False


async def _drop(request: Request) -> None:
    """Abort the connection under `request` (the injected `connection_reset`)."""
    try:
        await drop_connection(request.scope)
    except ConnectionDropUnsupported:
        raise RuntimeError("injected connection_reset (no transport to abort)") from None


def _wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[ASGIApp]]:
    """The Starlette handler of `endpoint`: stats, faults, authentication, error shapes."""
    route_key = f"{endpoint.method} {endpoint.template}"

    async def run(request: Request) -> ASGIApp:
        """Serve one request of the endpoint, counted and faulted as client traffic."""
        emu: Emulator = request.app.state.emulator
        # Only client traffic is counted: a test reading the stats must not change them.
        counted = not endpoint.template.startswith("/_emulator")
        if counted:
            emu.stats.request_started(route_key)
        try:
            if endpoint.current_only and not emu.config.serve_current_paths:
                return not_found_response()
            drop_after = False
            if endpoint.api:
                immediate, drop_after = await _api_fault(request, emu, route_key, endpoint.paid)
                if immediate is not None:
                    return immediate
                if not _authorised(request, emu):
                    return error_response(401, "unauthenticated", "Invalid or missing API key")
            try:
                response = await endpoint.handler(request, emu)
            except InvalidRequest as exc:
                response = error_response(exc.status, exc.kind, exc.message)
            except ModelNotFound as exc:
                response = model_not_found_response(exc.model)
            except GenerationFailed as exc:
                response = error_response(500, "unknown_error", str(exc))
            except RepoProblem as exc:
                response = problem_response(exc)
            if drop_after:
                # The work was accepted (and a sync call billed); only the answer is lost.
                await _drop(request)
            return response
        finally:
            if counted:
                emu.stats.request_finished()

    return run


# -- generation ------------------------------------------------------------------------------


def _sync_handler(media_type: str, key: str) -> Handler:
    """A handler that renders synchronously (`media_type`) and answers under `key`."""

    async def handler(request: Request, emu: Emulator) -> ASGIApp:
        """Run the generation now and answer with its URL (or its bytes as base64)."""
        body = await _json_body(request)
        record = await emu.run_sync(body, media_type)
        assert record.artifact is not None and record.completed_at is not None
        head = {"model": record.model, "created": int(record.completed_at)}
        if body.get("response_format") == "b64_json":
            path = emu.artifacts.path(record.artifact)
            return StreamingResponse(
                b64_json_body(head, key, path, _count_bytes(emu)), media_type="application/json"
            )
        return JSONResponse({**head, key: [{"url": emu.result_url(record, _base_url(request))}]})

    return handler


def _count_bytes(emu: Emulator) -> Callable[[int], None]:
    """A callback adding streamed download bytes to the emulator's stats."""

    def count(n: int) -> None:
        emu.stats.bytes_served += n

    return count


async def enqueue(request: Request, emu: Emulator) -> ASGIApp:
    """POST /api/ai/queue: accept 1-4 generations and answer their ids."""
    records = emu.enqueue(await _json_body(request))
    return JSONResponse(
        {"generations": [{"generation_id": r.id, "status": r.status} for r in records]}
    )


def _filtered(request: Request, emu: Emulator, *, queue_view: bool) -> list[Generation]:
    """Records matching the query filters; the queue view hides sync renders and, unless a
    status is asked for, terminal rows."""
    query = request.query_params
    status = query.get("status")
    if status and status not in STATUSES:
        raise InvalidRequest(f"status must be one of: {', '.join(STATUSES)}")
    rows = []
    for record in emu.store:
        if queue_view and record.source != "queue":
            continue
        if status:
            if record.status != status:
                continue
        elif queue_view and record.status not in ACTIVE:
            continue
        if query.get("model") and record.model != query["model"]:
            continue
        if query.get("media_type") and record.media_type != query["media_type"]:
            continue
        if query.get("namespace") and record.target_namespace != query["namespace"]:
            continue
        rows.append(record)
    return rows


async def list_queue(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/queue: active rows by default, filtered by the query."""
    base = _base_url(request)
    rows = [emu.row(r, base) for r in _filtered(request, emu, queue_view=True)]
    return JSONResponse({"count": len(rows), "generations": rows})


async def get_queue(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/queue/{id}: one queue row with a freshly signed result_url."""
    record = emu.queue_record(request.path_params["generation_id"])
    if record is None:
        return not_found_response()
    return JSONResponse(emu.row(record, _base_url(request)))


async def cancel_queue(request: Request, emu: Emulator) -> ASGIApp:
    """DELETE /api/ai/queue/{id}: cancel if active; terminal rows are unchanged."""
    record = emu.cancel(request.path_params["generation_id"])
    if record is None:
        return not_found_response()
    return JSONResponse({"status": "success", "generation_id": record.id})


async def retry_queue(request: Request, emu: Emulator) -> ASGIApp:
    """POST /api/ai/queue/{id}/retry: a fresh paid copy linked by retried_from_id."""
    record = emu.retry(request.path_params["generation_id"])
    if record is None:
        return not_found_response()
    row = emu.row(record, _base_url(request))
    # Shape undocumented: the new row, plus the enqueue shape for clients that expect it.
    row["generations"] = [{"generation_id": record.id, "status": record.status}]
    return JSONResponse(row)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """Query parameter `name` as an int within [low, high]; InvalidRequest otherwise."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be an integer between {low} and {high}")
    return value


async def list_generations(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/generations: paginated history with costs, newest first."""
    page = _int_param(request, "page", 1, 1, 10**9)
    page_size = _int_param(request, "page_size", 50, 1, 1000)
    records = sorted(_filtered(request, emu, queue_view=False), key=lambda r: -r.seq)
    total_cost = sum((Decimal(r.cost) for r in records), Decimal(0))
    chunk = records[(page - 1) * page_size : page * page_size]
    base = _base_url(request)
    return JSONResponse(
        {
            "count": len(chunk),
            "generations": [emu.history_row(r, base) for r in chunk],
            "page_number": page,
            "page_size": page_size,
            "total_cost": str(total_cost) if records else None,
            "total_entries": len(records),
            "total_pages": math.ceil(len(records) / page_size),
        }
    )


async def get_generation(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/generations/{id}: one history row."""
    record = emu.store.get(request.path_params["generation_id"])
    if record is None:
        return not_found_response()
    return JSONResponse(
        {
            "generation": emu.history_row(record, _base_url(request)),
            "status": "success",
            "status_message": "resource_found",
        }
    )


async def events(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/events: the SSE stream of completions."""
    base = _base_url(request)

    def render(generation_id: str) -> dict[str, Any] | None:
        """One generation as a `generation_completed` event payload (None when forgotten)."""
        record = emu.store.get(generation_id)
        if record is None:
            return None
        common = {"generation_id": record.id, "status": record.status}
        if record.status == "succeeded":
            url = emu.result_url(record, base)
            return {**common, "media_type": record.media_type, "model": record.model, "url": url}
        if record.status == "failed":
            return {**common, "media_type": record.media_type, "error": record.error_message}
        return None

    return EventStream(
        emu.broker,
        render,
        keepalive_interval=lambda: emu.config.keepalive_interval,
        noise=lambda: emu.config.noise_events,
    )


# -- models ----------------------------------------------------------------------------------


async def list_models(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/models: the catalogue, filtered by developer_name and action."""
    developer = request.query_params.get("developer_name", "").lower()
    action = request.query_params.get("action")
    data = [
        m.as_model_object()
        for m in CATALOGUE
        if (not developer or m.developer.lower() == developer)
        and (not action or m.action == action)
    ]
    return JSONResponse({"object": "list", "data": data})


async def search_models(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/models/search: models whose names or summary match `search`."""
    needle = request.query_params.get("search", "").lower()
    data = [
        m.as_model_object()
        for m in CATALOGUE
        if needle in " ".join((m.id, m.display_name, m.summary, m.developer)).lower()
    ]
    return JSONResponse({"object": "list", "data": data})


def _one_model(request: Request, view: Callable[[Model], dict[str, Any]]) -> ASGIApp:
    """The path's model as `view` represents it, or the API's model-not-found 404."""
    model = find_model(request.path_params["model_id"])
    if model is None:
        return model_not_found_response(request.path_params["model_id"])
    return JSONResponse(view(model))


async def get_model(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/ai/models/{id}: one model object with its request_schema."""
    return _one_model(request, Model.as_model_object)


async def list_evaluation_models(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/evaluations/models: the older catalogue view, keyed by name."""
    return JSONResponse({"models": [m.as_evaluation_model() for m in CATALOGUE]})


async def get_evaluation_model(request: Request, emu: Emulator) -> ASGIApp:
    """GET /api/evaluations/models/{id}: one model in the older view."""
    return _one_model(request, Model.as_evaluation_model)


# -- downloads -------------------------------------------------------------------------------


async def download(request: Request, emu: Emulator) -> ASGIApp:
    """GET|HEAD of a signed result file, with Range support and download faults."""
    head_only = request.method == "HEAD"
    fault = None if head_only else emu.faults.draw_download(emu.config.faults, f"GET {_DOWNLOAD}")
    verdict = emu.signer.verify(
        request.url.path,
        request.query_params.get("expires"),
        request.query_params.get("signature"),
    )
    if verdict is Verdict.INVALID:
        return error_response(403, "forbidden", "Invalid signature")
    if verdict is Verdict.EXPIRED or fault == "expired_url":
        return error_response(403, "forbidden", "Request has expired")
    generation_id, _, extension = request.path_params["filename"].rpartition(".")
    record = emu.store.get(generation_id)
    artifact = record.artifact if record is not None else None
    if (
        record is None
        or artifact is None
        or record.status != "succeeded"
        or artifact.extension != extension
        or record.target_namespace != request.path_params["namespace"]
    ):
        return not_found_response()
    size = artifact.size
    headers = {
        "content-type": artifact.content_type,
        "etag": f'"{artifact.sha256}"',
        "accept-ranges": "bytes",
    }
    wanted = parse_range(request.headers.get("range"), size)
    if wanted == "invalid":
        return error_response(
            416, "invalid_params", "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"}
        )
    status, start, end = 200, 0, size - 1
    if isinstance(wanted, tuple):
        status, (start, end) = 206, wanted
        headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(end - start + 1)
    slow = emu.config.faults.slow_body_bytes_per_second if fault == "slow_body" else None
    return FileBody(
        emu.artifacts.path(artifact),
        start,
        end,
        status,
        headers,
        head_only=head_only,
        truncate=fault == "truncated_download",
        bytes_per_second=slow,
        on_bytes=_count_bytes(emu),
        stopping=emu.stopping,
    )


# -- emulator control ------------------------------------------------------------------------


async def stats(request: Request, emu: Emulator) -> ASGIApp:
    """GET /_emulator/stats."""
    return JSONResponse(emu.snapshot())


async def reset(request: Request, emu: Emulator) -> ASGIApp:
    """POST /_emulator/reset[?generations=true][&repositories=true]."""

    def flag(name: str) -> bool:
        """Whether the query asks to forget `name`."""
        return request.query_params.get(name, "").lower() in ("1", "true", "yes")

    forget = flag("generations")
    emu.reset(forget_generations=forget)
    body: dict[str, Any] = {"status": "success", "generations_forgotten": forget}
    if flag("repositories"):
        emu.repositories.clear()
        body["repositories_forgotten"] = True
    return JSONResponse(body)


async def generation_log(request: Request, emu: Emulator) -> ASGIApp:
    """GET /_emulator/generations."""
    log = emu.generation_log()
    return JSONResponse({"count": len(log), "generations": log})


async def get_config(request: Request, emu: Emulator) -> ASGIApp:
    """GET /_emulator/config."""
    return JSONResponse(emu.config.model_dump(mode="json"))


async def patch_config(request: Request, emu: Emulator) -> ASGIApp:
    """PATCH /_emulator/config: change settings at run time (faults merge)."""
    config = emu.update_config(await _json_body(request))
    return JSONResponse(config.model_dump(mode="json"))


_DOWNLOAD = "/api/repos/{namespace}/emulator-results/files/generations/{filename}"

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST",
        "/api/ai/videos/generate",
        _sync_handler("video", "videos"),
        paid=True,
        current_only=True,
    ),
    Endpoint("POST", "/api/videos/generate", _sync_handler("video", "videos"), paid=True),
    Endpoint("POST", "/api/ai/images/generate", _sync_handler("image", "images"), paid=True),
    Endpoint("POST", "/api/ai/queue", enqueue, paid=True),
    Endpoint("GET", "/api/ai/queue", list_queue),
    Endpoint("GET", "/api/ai/queue/{generation_id}", get_queue),
    Endpoint("DELETE", "/api/ai/queue/{generation_id}", cancel_queue),
    Endpoint("POST", "/api/ai/queue/{generation_id}/retry", retry_queue),
    Endpoint("GET", "/api/ai/generations", list_generations),
    Endpoint("GET", "/api/ai/generations/{generation_id}", get_generation),
    Endpoint("GET", "/api/events", events),
    Endpoint("GET", "/api/ai/models", list_models, current_only=True),
    Endpoint("GET", "/api/ai/models/search", search_models, current_only=True),
    Endpoint("GET", "/api/ai/models/{model_id}", get_model, current_only=True),
    Endpoint("GET", "/api/evaluations/models", list_evaluation_models),
    Endpoint("GET", "/api/evaluations/models/{model_id}", get_evaluation_model),
    Endpoint("GET", _DOWNLOAD, download, api=False),
    Endpoint("GET", "/_emulator/stats", stats, api=False),
    Endpoint("POST", "/_emulator/reset", reset, api=False),
    Endpoint("GET", "/_emulator/generations", generation_log, api=False),
    Endpoint("GET", "/_emulator/config", get_config, api=False),
    Endpoint("PATCH", "/_emulator/config", patch_config, api=False),
    Endpoint("GET", "/_emulator/repositories", repository_log, api=False),
    *(Endpoint(method, template, handler) for method, template, handler in REPOSITORY_ROUTES),
)


def _routes() -> list[Route]:
    """Every endpoint as a Starlette route, one route per path carrying all its methods."""
    # Starlette matches routes in order and one path may carry several methods, so group the
    # endpoints by path, keeping first-seen order (".../search" before ".../{model_id}").
    by_path: dict[str, dict[str, Callable[[Request], Awaitable[ASGIApp]]]] = {}
    for endpoint in ENDPOINTS:
        by_path.setdefault(endpoint.template, {})[endpoint.method] = _wrap(endpoint)
    routes = []
    for path, handlers in by_path.items():

        async def dispatch(
            request: Request,
            handlers: dict[str, Callable[[Request], Awaitable[ASGIApp]]] = handlers,
        ) -> ASGIApp:
            """Hand the request to the handler of its method (HEAD is served as GET)."""
            method = "GET" if request.method == "HEAD" else request.method
            return await handlers[method](request)

        methods = list(handlers)
        routes.append(Route(path, dispatch, methods=methods))
    return routes


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (404, 405) in the hub's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found_response()
    return error_response(exc.status_code, "invalid_params", exc.detail)


def create_app(config: EmulatorConfig) -> EmulatorApp:
    """A fresh emulator application; its state lives in `app.state.emulator` while it runs."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        """Start the emulator engine with the app and stop it when the app stops."""
        emulator = Emulator(config)
        app.state.emulator = emulator
        await emulator.start()
        try:
            yield
        finally:
            await emulator.close()

    return EmulatorApp(
        routes=_routes(),
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
