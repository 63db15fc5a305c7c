"""`prefect-oxen generate`: one video (or one multi-shot video) through the package's flows."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from prefect_oxen.cli._credentials import api_client, cli_credentials
from prefect_oxen.cli._exit_codes import BadInput, ExitCode, handle_errors
from prefect_oxen.cli._input_checks import check_archive, check_item_id
from prefect_oxen.cli._options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    BaseUrlOption,
    CredentialsBlockOption,
    Mode,
    ModeOption,
    VerboseOption,
)
from prefect_oxen.cli._output import archive_location, console, err_console, money
from prefect_oxen.cli._runs import run_flow
from prefect_oxen.client import VideoRequest

__all__ = ["generate_command", "parse_shot"]


def parse_shot(text: str, default_duration: int) -> dict[str, Any]:
    """``"PROMPT:SECONDS"`` (or just ``"PROMPT"``) as a multi-shot entry.

    Args:
        text: One ``--shot`` value.
        default_duration: Seconds when the text names none (``--duration``).

    Returns:
        ``{"prompt": ..., "duration": ...}``.

    Raises:
        BadInput: The prompt is empty.
    """
    prompt, sep, seconds = text.rpartition(":")
    if not sep or not seconds.strip().isdigit():
        prompt, seconds = text, str(default_duration)
    if not prompt.strip():
        raise BadInput(f'--shot {text!r}: expected "PROMPT:SECONDS", e.g. "a fox runs:5".')
    return {"prompt": prompt.strip(), "duration": int(seconds)}


def build_request(
    model: str, prompt: str | None, shots: list[str], duration: int, aspect_ratio: str, audio: bool
) -> dict[str, Any]:
    """The request the options describe (shots become ``multi_prompt``).

    Args:
        model: ``--model``.
        prompt: ``--prompt``, or None with shots.
        shots: The ``--shot`` values, or none with a prompt.
        duration: ``--duration`` (the default per shot).
        aspect_ratio: ``--aspect-ratio``.
        audio: ``--audio``.

    Returns:
        The request as the API takes it (not validated yet).

    Raises:
        BadInput: Both or neither of a prompt and shots, or an empty shot.
    """
    if prompt and shots:
        raise BadInput("Give either --prompt or --shot, not both.")
    if not prompt and not shots:
        raise BadInput('Give --prompt (one shot) or --shot "PROMPT:SECONDS" (repeatable).')
    request: dict[str, Any] = {"model": model, "aspect_ratio": aspect_ratio}
    if shots:
        request["multi_prompt"] = [parse_shot(shot, duration) for shot in shots]
    else:
        request.update(prompt=prompt, duration=duration)
    if audio:
        request["generate_audio"] = True
    return request


@handle_errors
def generate_command(
    model: Annotated[str, typer.Option(help="Model id (see `prefect-oxen models`).")],
    prompt: Annotated[Optional[str], typer.Option(help="Text prompt.")] = None,  # noqa: UP045
    shot: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--shot", help='A shot "PROMPT:SECONDS" (repeatable): one multi-shot video.'),
    ] = None,
    duration: Annotated[int, typer.Option(min=1, help="Seconds (and default per shot).")] = 5,
    aspect_ratio: Annotated[str, typer.Option(help='"16:9", "9:16", "1:1"...')] = "16:9",
    audio: Annotated[
        bool, typer.Option("--audio", help="Generate an audio track (its own rate).")
    ] = False,
    mode: ModeOption = Mode.auto,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    key: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--id", help="Id the video is archived under (default: from the request)."),
    ] = None,
    base_url: BaseUrlOption = None,
    credentials_block: CredentialsBlockOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Generate one video, verify it and archive it with its manifest.

    Exit 0 when archived, 1 when generation failed, 2 for an invalid request or id, unknown
    model, missing API key or an archive that cannot take the video (all checked before anything
    is paid).
    """
    shots = list(shot or [])
    request = build_request(model, prompt, shots, duration, aspect_ratio, audio)
    if key is not None:
        check_item_id(key)  # the rule batch lines follow: refused, never renamed
    # Check and price before starting Prefect: a typo costs a second, not a server start.
    with api_client(base_url, credentials_block) as client:
        checked = client.validate_request(VideoRequest.model_validate(request))
        estimate = client.estimate_cost(checked)
        native = client.get_model(model).supports_multi_prompt
    check_archive(archive)
    credentials = cli_credentials(base_url, credentials_block)
    from prefect_oxen.flows import generate_video_flow, multi_shot_flow

    label = f"Generating {model} ({checked.total_duration} s, estimated {money(estimate)})"
    with err_console().status(label):
        if shots:
            outcome = run_flow(
                multi_shot_flow,
                model=model,
                shots=request["multi_prompt"],
                credentials=credentials,
                archive=archive,
                key=key or "multi-shot",
                aspect_ratio=aspect_ratio,
                generate_audio=True if audio else None,
                verbose=verbose,
            )
        else:
            outcome = run_flow(
                generate_video_flow,
                request=request,
                credentials=credentials,
                archive=archive,
                key=key,
                mode=mode.value,
                verbose=verbose,
            )
    if isinstance(outcome, BaseException):
        err_console().print(f"[bold red]Failed:[/] {type(outcome).__name__}: {outcome}")
        raise typer.Exit(int(ExitCode.ITEMS_FAILED))
    record = getattr(outcome, "video", outcome)
    table = Table(title="Video", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("model", model)
    if shots:
        table.add_row("shots", f"{len(shots)} ({'native multi_prompt' if native else 'stitched'})")
    table.add_row("estimated cost", money(estimate))
    table.add_row("video", record.uri)
    table.add_row("manifest", record.manifest_uri)
    table.add_row("archive", archive_location(archive))
    console().print(table)
