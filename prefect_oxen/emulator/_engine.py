"""The emulator's state and the lifecycle of generations: accept, queue, run, bill, report."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prefect_oxen.emulator._artifacts import ArtifactStore
from prefect_oxen.emulator._catalogue import ROUTING_FIELDS, Model, find_model
from prefect_oxen.emulator._config import FROZEN_AT_RUNTIME, EmulatorConfig
from prefect_oxen.emulator._events import EventBroker
from prefect_oxen.emulator._faults import ALL_FAULTS, FaultInjector
from prefect_oxen.emulator._inputs import InputFetches, fetch_inputs
from prefect_oxen.emulator._render import ImageSpec, VideoSpec
from prefect_oxen.emulator._repositories import RepositoryStore
from prefect_oxen.emulator._signing import UrlSigner, result_path
from prefect_oxen.emulator._slots import SlotPool
from prefect_oxen.emulator._stats import Stats
from prefect_oxen.emulator._store import ACTIVE, STATUSES, Artifact, Generation, GenerationStore
from prefect_oxen.emulator._validation import InvalidRequest, image_spec, video_spec

DEFAULT_NAMESPACE = "emulator-user"
UPSTREAM_FAILURE = "Generation failed: upstream provider error"
INSUFFICIENT_CREDITS = "Insufficient credits"


class ModelNotFound(Exception):
    """The request named a model the catalogue does not have."""

    def __init__(self, model: str) -> None:
        super().__init__(f"Model not found: {model}")
        self.model = model


class GenerationFailed(Exception):
    """A synchronous generation ended failed (its message goes into a 500 body)."""


class Emulator:
    """All mutable emulator state; lives on the server's event loop and is not thread-safe."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._tmpdir: Path | None = None
        if config.state_dir is not None:
            root = Path(config.state_dir)
            root.mkdir(parents=True, exist_ok=True)
            journal: Path | None = root / "generations.jsonl"
        else:
            self._tmpdir = root = Path(tempfile.mkdtemp(prefix="oxen-emulator-"))
            journal = None
        self.store = GenerationStore(journal)
        self.artifacts = ArtifactStore(root / "files")
        self.repositories = RepositoryStore(root / "repos")
        self.signer = UrlSigner(config.seed)
        self.faults = FaultInjector(config.seed)
        self.broker = EventBroker()
        self.slots = SlotPool(config.concurrency)
        self.stats = Stats()
        self.input_fetches = InputFetches()
        self.stopping = asyncio.Event()
        self._ids = random.Random(f"{config.seed}:ids")
        self._jitter = random.Random(f"{config.seed}:jitter")
        self._credits_spent = Decimal(0)
        self._pending: asyncio.Queue[str] = asyncio.Queue()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._dispatcher: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume persisted work that was queued or processing, then start dispatching."""
        for record in self.store:
            if record.status in ACTIVE and record.source == "queue":
                record.status, record.started_at = "queued", None
                self.store.save(record)
                self._pending.put_nowait(record.id)
            elif record.status in ACTIVE:
                # A sync call cannot resume: its HTTP request died with the old process.
                self._fail(record, "Interrupted by an emulator restart")
        self._dispatcher = asyncio.create_task(self._dispatch(), name="oxen-emulator-dispatch")

    def begin_shutdown(self) -> None:
        """Make long-lived responses (SSE, slow downloads) finish so the server can stop."""
        self.stopping.set()
        self.broker.close()

    async def close(self) -> None:
        """Stop the workers; unfinished queue work stays `processing` and resumes next start."""
        self.begin_shutdown()
        tasks = [t for t in (self._dispatcher, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        try:
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.store.close()
        finally:
            self.remove_temp_dir()

    def remove_temp_dir(self) -> None:
        """Delete the temporary directory this emulator made (none with a `state_dir`).

        `close` does it; a process that stops without closing (a signal during start-up) calls
        it again once nothing can write there any more. Idempotent.
        """
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------

    def _new_id(self) -> str:
        """A generation id from the seeded generator that no stored generation has."""
        while True:
            # Seeded ids replay; after a restart the same seed re-draws the persisted ids
            # first, which are skipped.
            candidate = str(uuid.UUID(int=self._ids.getrandbits(128), version=4))
            if candidate not in self.store:
                return candidate

    def _model(self, body: dict[str, Any]) -> Model:
        """The catalogue model the request names; InvalidRequest when unknown or missing."""
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise InvalidRequest("model: Field required")
        model = find_model(name)
        if model is None:
            raise ModelNotFound(name)
        return model

    def _spec(self, model: Model, params: dict[str, Any]) -> VideoSpec | ImageSpec:
        """Validate the request's parameters for `model` and return what to render."""
        wrapped = self.config.wrap_validation_messages
        params = {"model": model.id, **params}  # the schemas describe the whole body
        if model.media_type == "image":
            return image_spec(model, params, wrapped)
        return video_spec(model, params, wrapped)

    @staticmethod
    def _cost(model: Model, spec: VideoSpec | ImageSpec) -> Decimal:
        """What one generation of `spec` costs on `model`'s price list."""
        if isinstance(spec, VideoSpec):
            return model.unit_cost(spec.generate_audio) * spec.duration
        return model.unit_cost(False)

    def credits_remaining(self) -> Decimal | None:
        """Unspent credits in USD, or None when unlimited."""
        if self.config.credits_usd is None:
            return None
        return Decimal(str(self.config.credits_usd)) - self._credits_spent

    def _insufficient(self) -> InvalidRequest:
        """The 'Insufficient credits' error with the configured status."""
        return InvalidRequest(
            INSUFFICIENT_CREDITS,
            status=self.config.insufficient_credits_status,
            kind="insufficient_credits",
        )

    def _affordable(self, cost: Decimal) -> bool:
        """True when the remaining credits (if limited) cover `cost`."""
        remaining = self.credits_remaining()
        return remaining is None or cost <= remaining

    def _new_generation(
        self, source: str, model: Model, params: dict[str, Any], namespace: str
    ) -> Generation:
        """A fresh queued generation record for the request."""
        return Generation(
            id=self._new_id(),
            source=source,  # type: ignore[arg-type]
            model=model.id,
            media_type=model.media_type,
            params=params,
            target_namespace=namespace,
            seq=self.store.next_seq(),
            enqueued_at=time.time(),
            doomed=self.faults.draw_generation_failure(self.config.faults),
            jitter=self._jitter.uniform(-1.0, 1.0),
        )

    @staticmethod
    def _params(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The request's model parameters and its target namespace."""
        params = {k: v for k, v in body.items() if k not in ROUTING_FIELDS}
        if "response_format" in body:
            params["response_format"] = body["response_format"]
        namespace = body.get("target_namespace") or DEFAULT_NAMESPACE
        return params, str(namespace)

    async def _work(
        self, record: Generation, model: Model, spec: VideoSpec | ImageSpec
    ) -> Artifact | None:
        """Spend the configured latency and render; the two overlap, as one generation."""
        cfg = self.config
        latency = max(0.0, cfg.latency + record.jitter * cfg.latency_jitter)
        if record.doomed:
            await asyncio.sleep(latency)
            return None
        if isinstance(spec, VideoSpec):
            # Reused renders: one encode per shape, so at load-test rates the emulator spends
            # its CPU on HTTP, not on x264/AAC.
            shape = spec.shape() if cfg.reuse_renders else spec
            render = self.artifacts.video(shape, cfg.video_padding_bytes)
        else:
            render = self.artifacts.image(spec)
        artifact, _ = await asyncio.gather(render, asyncio.sleep(latency))
        return artifact

    async def _fetched(self, record: Generation) -> str | None:
        """Fetch the generation's input images when the `fetch_inputs` knob is on; why it must
        fail, or None."""
        if not self.config.fetch_inputs:
            return None
        return await fetch_inputs(record.params, self.input_fetches)

    def _take_slot(self) -> None:
        """Record the most slots held at once, for the stats."""
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.slots.in_use)

    def _fail(self, record: Generation, message: str) -> None:
        """End `record` failed with `message` (never billed) and tell the event stream."""
        record.status, record.error_message = "failed", message
        record.completed_at = time.time()
        self.store.save(record)
        if record.source == "queue":
            self.broker.publish(record.id)

    def _succeed(self, record: Generation, artifact: Artifact, cost: Decimal) -> None:
        """End `record` succeeded with its artifact, bill it and tell the event stream."""
        record.status, record.artifact = "succeeded", artifact
        record.completed_at = time.time()
        record.billed, record.cost = True, str(cost)
        self.stats.billed_generations += 1
        self.stats.billed_cost += cost
        self._credits_spent += cost
        self.store.save(record)
        if record.source == "queue":
            self.broker.publish(record.id)

    # -- synchronous generation ------------------------------------------------------------

    async def run_sync(self, body: dict[str, Any], media_type: str) -> Generation:
        """Validate, wait for a slot and the latency, render and bill one sync generation."""
        model = self._model(body)
        if model.media_type != media_type:
            raise InvalidRequest(f"Model {model.id} does not generate {media_type}s.")
        params, namespace = self._params(body)
        spec = self._spec(model, params)
        cost = self._cost(model, spec)
        if not self._affordable(cost):
            raise self._insufficient()
        record = self._new_generation("sync", model, params, namespace)
        record.status = "processing"
        self.store.save(record)
        async with self.slots.hold():
            self._take_slot()
            record.started_at = time.time()
            failure = await self._fetched(record)
            if failure is not None:
                self._fail(record, failure)
                raise InvalidRequest(failure)
            artifact = await self._work(record, model, spec)
        if artifact is None:
            self._fail(record, UPSTREAM_FAILURE)
            raise GenerationFailed(UPSTREAM_FAILURE)
        if not self._affordable(cost):
            # Another call spent the credits while this one was rendering.
            self._fail(record, INSUFFICIENT_CREDITS)
            raise self._insufficient()
        self._succeed(record, artifact, cost)
        return record

    # -- queue -----------------------------------------------------------------------------

    def enqueue(self, body: dict[str, Any]) -> list[Generation]:
        """Check what the hub checks at enqueue (not model parameters) and queue the work."""
        model = self._model(body)
        if model.media_type not in ("video", "image"):
            raise InvalidRequest(
                f"unsupported_media_type: model {model.id} produces {model.media_type}; "
                "the queue accepts image and video models",
                status=400,
                kind="unsupported_media_type",
            )
        count = body.get("num_generations", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 4:
            raise InvalidRequest("num_generations must be an integer between 1 and 4")
        remaining = self.credits_remaining()
        if remaining is not None and remaining <= 0:
            raise self._insufficient()
        params, namespace = self._params(body)
        return [self._queue(model, dict(params), namespace) for _ in range(count)]

    def _queue(
        self, model: Model, params: dict[str, Any], namespace: str, retried_from: str | None = None
    ) -> Generation:
        """Store a new queued generation and hand it to the dispatcher."""
        record = self._new_generation("queue", model, params, namespace)
        record.retried_from_id = retried_from
        self.store.save(record)
        self._pending.put_nowait(record.id)
        return record

    async def _dispatch(self) -> None:
        """Hand slots to queued generations in FIFO order, forever."""
        # One dispatcher hands out slots in FIFO order; sync calls queue on the same pool.
        while True:
            generation_id = await self._pending.get()
            record = self.store.get(generation_id)
            if record is None or record.status != "queued":
                continue
            await self.slots.acquire()
            if record.status != "queued" or self.store.get(generation_id) is not record:
                self.slots.release()
                continue
            self._take_slot()
            record.status, record.started_at = "processing", time.time()
            self.store.save(record)
            self._running[record.id] = asyncio.create_task(self._process(record))

    async def _process(self, record: Generation) -> None:
        """Run one queued generation in its slot: validate, wait, render, settle."""
        try:
            model = find_model(record.model)
            assert model is not None
            try:
                spec = self._spec(model, record.params)
            except InvalidRequest as exc:
                # The documented quirk: parameters are only checked when the work runs.
                self._fail(record, exc.message)
                return
            failure = await self._fetched(record)
            if failure is not None:
                self._fail(record, failure)
                return
            artifact = await self._work(record, model, spec)
            if record.status != "processing":
                return
            if artifact is None:
                self._fail(record, UPSTREAM_FAILURE)
                return
            cost = self._cost(model, spec)
            if not self._affordable(cost):
                self._fail(record, INSUFFICIENT_CREDITS)
                return
            self._succeed(record, artifact, cost)
        finally:
            self.slots.release()
            self._running.pop(record.id, None)

    def cancel(self, generation_id: str) -> Generation | None:
        """Cancel an active queue generation; terminal ones are left as they are."""
        record = self._queue_record(generation_id)
        if record is None or record.status not in ACTIVE:
            return record
        record.status, record.completed_at = "cancelled", time.time()
        self.store.save(record)
        task = self._running.get(generation_id)
        if task is not None:
            task.cancel()
        return record

    def retry(self, generation_id: str) -> Generation | None:
        """Cancel if active and enqueue a fresh copy linked by retried_from_id."""
        record = self._queue_record(generation_id)
        if record is None:
            return None
        if record.status == "succeeded":
            raise InvalidRequest("A succeeded generation cannot be retried.")
        remaining = self.credits_remaining()
        if remaining is not None and remaining <= 0:
            raise self._insufficient()
        self.cancel(generation_id)
        model = find_model(record.model)
        assert model is not None
        return self._queue(model, dict(record.params), record.target_namespace, record.id)

    def _queue_record(self, generation_id: str) -> Generation | None:
        """The queue generation `generation_id`, or None (unknown or a sync render)."""
        record = self.store.get(generation_id)
        return record if record is not None and record.source == "queue" else None

    def queue_record(self, generation_id: str) -> Generation | None:
        """The queue generation with this id (sync renders are not visible on queue routes)."""
        return self._queue_record(generation_id)

    # -- views -----------------------------------------------------------------------------

    def result_url(self, record: Generation, base_url: str) -> str | None:
        """A freshly signed URL for a succeeded generation's file, else None."""
        if record.status != "succeeded" or record.artifact is None:
            return None
        path = result_path(record.target_namespace, record.id, record.artifact.extension)
        return self.signer.sign(base_url, path, self.config.url_ttl)

    def row(self, record: Generation, base_url: str) -> dict[str, Any]:
        """The `GET /api/ai/queue/{id}` shape: status, result and the echoed parameters."""
        model = find_model(record.model)
        params = record.params
        duration = params.get("duration")
        if duration is None and model is not None and model.duration is not None:
            shots = params.get("multi_prompt")
            if shots and isinstance(shots, list):
                duration = sum(s.get("duration", 5) for s in shots if isinstance(s, dict))
            else:
                duration = model.duration.default
        default_ratio = "1:1" if record.media_type == "image" else "16:9"

        def stamp(value: float | None) -> int | None:
            return None if value is None else int(value)

        row: dict[str, Any] = {
            "generation_id": record.id,
            "model_name": record.model,
            "prompt": params.get("prompt"),
            "media_type": record.media_type,
            "status": record.status,
            "result_url": self.result_url(record, base_url),
            "error_message": record.error_message,
            "enqueued_at": stamp(record.enqueued_at),
            "started_at": stamp(record.started_at),
            "completed_at": stamp(record.completed_at),
            "aspect_ratio": params.get("aspect_ratio") or default_ratio,
            "duration": duration if record.media_type == "video" else None,
            "seed": params.get("seed"),
            "target_namespace": record.target_namespace,
            "retried_from_id": record.retried_from_id,
        }
        for key, value in params.items():
            row.setdefault(key, value)
        return row

    def history_row(self, record: Generation, base_url: str) -> dict[str, Any]:
        """The `/api/ai/generations` shape: a queue row plus cost and ownership fields."""
        row = self.row(record, base_url)
        row.update(
            cost=record.cost,
            target_repo="emulator-results",
            target_directory="generations",
            user_id="emulator-user-id",
            username=DEFAULT_NAMESPACE,
            source=record.source,
        )
        return row

    def snapshot(self) -> dict[str, Any]:
        """Everything GET /_emulator/stats reports."""
        by_status: Counter[str] = Counter(record.status for record in self.store)
        remaining = self.credits_remaining()
        return {
            "billed_generations": self.stats.billed_generations,
            "billed_cost_usd": float(self.stats.billed_cost),
            "requests": dict(sorted(self.stats.requests.items())),
            "bytes_served": self.stats.bytes_served,
            "in_flight": self.slots.in_use,
            "waiting_for_slot": self.slots.waiting,
            "max_in_flight": self.stats.max_in_flight,
            "in_flight_requests": self.stats.in_flight_requests,
            "max_in_flight_requests": self.stats.max_in_flight_requests,
            "generations_by_status": {status: by_status.get(status, 0) for status in STATUSES},
            "faults_injected": {name: self.faults.injected.get(name, 0) for name in ALL_FAULTS},
            "sse_subscribers": self.broker.subscriber_count,
            "renders": self.artifacts.renders,
            "credits_remaining_usd": None if remaining is None else float(remaining),
            "input_fetches": self.input_fetches.view(),
        }

    def generation_log(self) -> list[dict[str, Any]]:
        """Every generation and sync render with its request, billing and result hash."""
        return [
            {
                "id": record.id,
                "source": record.source,
                "model": record.model,
                "media_type": record.media_type,
                "request": {"model": record.model, **record.params},
                "target_namespace": record.target_namespace,
                "status": record.status,
                "error_message": record.error_message,
                "billed": record.billed,
                "cost": float(Decimal(record.cost)),
                "sha256": record.artifact.sha256 if record.artifact else None,
                "size": record.artifact.size if record.artifact else None,
                "enqueued_at": record.enqueued_at,
                "started_at": record.started_at,
                "completed_at": record.completed_at,
                "retried_from_id": record.retried_from_id,
            }
            for record in self.store
        ]

    # -- control ---------------------------------------------------------------------------

    def reset(self, forget_generations: bool) -> None:
        """Zero the counters and restart the fault streams; optionally forget generations."""
        self.stats.reset()
        self.input_fetches.reset()
        self.faults.reseed()
        self.artifacts.renders = 0
        self._credits_spent = Decimal(0)
        if forget_generations:
            self.artifacts.clear()
            for task in self._running.values():
                task.cancel()
            for record in self.store:
                if record.status in ACTIVE:
                    record.status = "cancelled"
            self.store.clear()

    def update_config(self, changes: dict[str, Any]) -> EmulatorConfig:
        """Apply a partial config (fault rates merge field by field); raises InvalidRequest."""
        frozen = sorted(set(changes) & FROZEN_AT_RUNTIME)
        if frozen:
            raise InvalidRequest(f"Cannot change {', '.join(frozen)} while running")
        data = self.config.model_dump()
        if isinstance(changes.get("faults"), dict):
            # Rates merge field by field; `routes` and `limit` scope the fault settings they
            # arrive with, so a faults change that omits them clears them.
            scoped = {"routes": None, "limit": None}
            changes = {**changes, "faults": {**data["faults"], **scoped, **changes["faults"]}}
        try:
            config = EmulatorConfig.model_validate({**data, **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidRequest(f"{where}: {first['msg']}") from exc
        if "faults" in changes:
            self.faults.restart_budget()
        if "credits_usd" in changes:
            self._credits_spent = Decimal(0)  # a new budget starts now
        self.config = config
        self.slots.resize(config.concurrency)
        return config
