"""An Oxen.ai-compatible emulator: an independent implementation of `shared/oxen-api.md`.

It serves the hub's video-generation contract over real HTTP (Starlette + uvicorn) and renders
real, small, deterministic H.264 mp4 files with PyAV, so clients can be tested end to end
without network access or spend. It deliberately imports nothing from the rest of
prefect-oxen: it exists to catch the client's mistakes, not to share them.

    from prefect_oxen.emulator import EmulatorConfig, FaultConfig, EmulatorServer, running_emulator

    with EmulatorServer(EmulatorConfig(faults=FaultConfig(rate_limit=0.1))) as emu:
        emu.base_url, emu.stats()

    with running_emulator(latency=0.5, faults={"server_error": 0.05}) as emu:
        ...

`python -m prefect_oxen.emulator --port 8765` serves in the foreground.

Emulator-only routes (no auth, never faulted): `GET /_emulator/stats`,
`POST /_emulator/reset[?generations=true][&repositories=true]`, `GET /_emulator/generations`,
`GET /_emulator/repositories` (also `EmulatorServer.repositories()`), `GET|PATCH /_emulator/config`.

It also serves the subset of Oxen's repository API prefect-oxen uses (`_repo_routes`), with
repositories kept on disk under the state dir (or the temporary dir): `POST /api/repos`,
`GET /api/repos/{ns}/{repo}`, branches (list, get, create), workspaces (`PUT|POST` get-or-create,
get, delete, multipart `files/{dir}` upload, `changes`, `staged` and `files/{path}` removal,
`commit/{branch}` and `merge/{branch}`), `file/{revision}/{path}`, `dir/{revision}/{path}`,
`commits/history/{revision}[/{path}]` and `commits/{id}`. A workspace commit lands on the
branch's current head; when the branch changed a staged file since the workspace opened it is
refused as oxen-server refuses it (404, error type `conflict`, "Workspace is behind").

Knobs: see `EmulatorConfig` and `FaultConfig` (every field is documented there); all but host,
port, seed and state_dir can change at run time through `PATCH /_emulator/config` or
`EmulatorServer.configure()`. Faults are drawn per eligible request from one generator per
fault kind seeded from `seed`; `POST /_emulator/reset` restarts those generators, so a run can
be replayed. `FaultConfig.routes` ("METHOD /template", as in the stats) and `FaultConfig.limit`
scope the fault settings they are sent with. The stats count client traffic only (`/api/*`
routes and downloads, HEAD counted as GET), never `/_emulator/*`.

Assumptions where the reference leaves the hub's behaviour open (each is a knob or is noted
so a client can be written defensively against it):

- Result URLs live `url_ttl` seconds (default 3600; `expires` is a whole unix second) and
  `GET /api/ai/queue/{id}` (and the list, history and SSE events) re-signs `result_url` on
  every read, so a client can recover from an expired URL by reading the row again. The sync
  response carries no generation id, so its URL cannot be refreshed.
- A download with a bad signature or an expired `expires` gets 403 with the
  `{"error": {"type": "forbidden", ...}}` shape. Downloads honour `Range: bytes=N-` (206) and
  HEAD; the ETag is the sha256 of the bytes.
- Missing credits answer `insufficient_credits_status` (402 by default) with detail
  "Insufficient credits". Enqueue checks only that some credit remains; the run checks the
  actual cost and fails the generation with error_message "Insufficient credits".
- Rate limiting is only ever injected (`faults.rate_limit`): 429 with `Retry-After` in whole
  seconds. Injected API faults hit before authentication, as an edge proxy would.
- Cancelling a terminal generation answers 200 `{"status": "success", ...}` and changes
  nothing. Retrying a succeeded generation is 422 invalid_params. The retry response is the
  new generation's row (with `retried_from_id`) plus an enqueue-style `generations` list.
- `response_format: "b64_json"` is ignored by the queue: queue results are always a
  `result_url`. Sync calls honour it (the JSON body is streamed).
- Unknown request parameters are accepted and echoed (request schemas allow additional
  properties). The queue echoes every request parameter in its rows.
- Model parameters are not validated at enqueue: an invalid one fails the generation when it
  runs, with the validation message as error_message (the documented quirk).
- Text-only models are refused by the queue with 400 and type `unsupported_media_type`.
- Completion events go to every connected subscriber (a single emulated user). Sync calls
  emit no events. Events are delivered only to streams whose response headers were sent
  before the generation finished; nothing is replayed.
- `/api/ai/generations` lists queue generations and sync renders (newest first) with
  `cost` as a decimal string ("0" when not billed). `/api/ai/queue*` routes see queue
  generations only. `GET /api/evaluations/models/{id}` returns the bare model object.
- Only succeeded generations are billed: failed, cancelled and faulted-before-work requests
  are free. A sync call dropped by `connection_reset` was billed (the ambiguous worst case).
- Reference inputs are fetched only with the `fetch_inputs` knob on (tests elsewhere send URLs
  nobody serves): every http(s) `input_image` is fetched before rendering, and one that cannot
  be fetched fails the generation, unbilled, with error_message "Could not fetch input_image
  from <host>: ..." (never the signed query). The stats count them under `input_fetches`.
- Validation messages are wrapped as `Getting model response error: 422 - Value error, <bare>`
  when `wrap_validation_messages` is on (the default), whatever the failing check.
"""

from prefect_oxen.emulator._cli import main
from prefect_oxen.emulator._config import EmulatorConfig, FaultConfig
from prefect_oxen.emulator._server import EmulatorServer, running_emulator

__all__ = ["EmulatorConfig", "EmulatorServer", "FaultConfig", "main", "running_emulator"]
