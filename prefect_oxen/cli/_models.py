"""`prefect-oxen models [ID]`: the catalogue with pricing, or one model's request schema."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from prefect_oxen.cli._credentials import api_client
from prefect_oxen.cli._exit_codes import handle_errors
from prefect_oxen.cli._options import BaseUrlOption, CredentialsBlockOption
from prefect_oxen.cli._output import console, money
from prefect_oxen.client import ModelInfo

__all__ = ["models_command"]


def _rates(info: ModelInfo) -> tuple[str, str]:
    """The base rate and the with-audio rate of a model, as the table prints them."""
    pricing = info.pricing
    if pricing.cost_per_second is not None:
        audio = (
            money(pricing.cost_per_second_with_audio) if pricing.cost_per_second_with_audio else ""
        )
        return f"{money(pricing.cost_per_second)}/s", f"{audio}/s" if audio else ""
    if pricing.cost_per_image is not None:
        return f"{money(pricing.cost_per_image)}/image", ""
    if pricing.input_cost_per_token is not None:
        return "per token", ""
    return pricing.method or "", ""


def _describe(schema: dict[str, Any]) -> str:
    """A one-line summary of a JSON-Schema property: type, allowed values, range, default."""
    parts = [str(schema.get("type", ""))]
    if "enum" in schema:
        parts.append("one of " + ", ".join(map(str, schema["enum"])))
    if "minimum" in schema or "maximum" in schema:
        parts.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "maxLength" in schema:
        parts.append(f"max {schema['maxLength']} chars")
    if "maxItems" in schema:
        parts.append(f"max {schema['maxItems']} items")
    if "default" in schema:
        parts.append(f"default {schema['default']}")
    return ", ".join(p for p in parts if p)


@handle_errors
def models_command(
    model_id: Annotated[
        Optional[str],  # noqa: UP045 (typer needs Optional on 3.10)
        typer.Argument(metavar="[ID]", help="Show one model's details."),
    ] = None,
    base_url: BaseUrlOption = None,
    credentials_block: CredentialsBlockOption = None,
) -> None:
    """List the catalogue with pricing, or show one model's request schema."""
    out = console()
    with api_client(base_url, credentials_block) as client:
        if model_id is None:
            table = Table(title="Models", title_justify="left")
            for column in ("id", "output", "rate", "with audio", "multi-shot", "summary"):
                table.add_column(column, overflow="fold")
            for info in sorted(client.list_models(), key=lambda m: m.id):
                rate, audio = _rates(info)
                table.add_row(
                    info.id,
                    info.output_media or "",
                    rate,
                    audio,
                    "yes" if info.supports_multi_prompt else "",
                    info.summary or info.description or "",
                )
            out.print(table)
            return
        info = client.get_model(model_id)
    rate, audio = _rates(info)
    head = Table(title=info.display_name or info.id, title_justify="left", show_header=False)
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    head.add_row("id", info.id)
    head.add_row("output", info.output_media or "")
    head.add_row(
        "pricing", f"{rate}" + (f" ({audio} with audio; replaces the base rate)" if audio else "")
    )
    head.add_row("multi-shot", "yes (multi_prompt)" if info.supports_multi_prompt else "no")
    if info.summary or info.description:
        head.add_row("summary", info.summary or info.description or "")
    out.print(head)
    schema = info.request_schema or {}
    required = set(schema.get("required") or [])
    fields = Table(title="Request schema", title_justify="left")
    for column in ("field", "required", "accepts", "description"):
        fields.add_column(column, overflow="fold")
    for name, prop in info.schema_properties.items():
        prop = prop if isinstance(prop, dict) else {}
        fields.add_row(
            name,
            "yes" if name in required else "",
            _describe(prop),
            str(prop.get("description", "")),
        )
    out.print(fields)
