"""`prefect-oxen blocks register|create`: block types on the server, and saved blocks from env."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Optional

import typer

from prefect_oxen.cli._credentials import require_api_key
from prefect_oxen.cli._exit_codes import BadInput, handle_errors
from prefect_oxen.cli._options import BaseUrlOption
from prefect_oxen.cli._output import console

__all__ = ["blocks_app"]

blocks_app = typer.Typer(
    help="Register the block types, or save blocks from environment variables.",
    no_args_is_help=True,
)


@blocks_app.command("register")
@handle_errors
def register_command() -> None:
    """Register prefect-oxen's block types (like `prefect block register -m prefect_oxen.blocks`)."""
    from prefect_oxen.blocks import OxenCredentials

    async def register() -> None:
        """Register the block type and its schema on the Prefect API."""
        await OxenCredentials.register_type_and_schema()

    asyncio.run(register())
    console().print(f"Registered block type [bold]{OxenCredentials.get_block_type_name()}[/].")


@blocks_app.command("create")
@handle_errors
def create_command(
    name: Annotated[str, typer.Option(help="Name of the OxenCredentials block.")] = "oxen",
    base_url: BaseUrlOption = None,
    target_namespace: Annotated[
        Optional[str],  # noqa: UP045 (typer needs Optional on 3.10)
        typer.Option(help="Namespace billed by default."),
    ] = None,
    s3_bucket: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            help="Also save an S3Bucket block for this bucket (prefect-aws).", show_default=False
        ),
    ] = None,
    s3_block_name: Annotated[
        str, typer.Option(help="Name of the S3Bucket block.")
    ] = "oxen-archive",
    s3_folder: Annotated[str, typer.Option(help="Folder inside the bucket.")] = "",
    aws_block_name: Annotated[
        str, typer.Option(help="Name of the AwsCredentials block.")
    ] = "oxen-aws",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace blocks of the same name.")
    ] = False,
) -> None:
    """Save an OxenCredentials block from OXEN_API_KEY / OXEN_BASE_URL (and optionally an S3Bucket
    with AwsCredentials from the AWS_* variables). The key is stored as a secret, never printed."""
    from prefect.exceptions import ObjectAlreadyExists

    from prefect_oxen.blocks import OxenCredentials

    key = require_api_key()
    fields = {"api_key": key, "target_namespace": target_namespace}
    if base_url:
        fields["base_url"] = base_url
    credentials = OxenCredentials(**fields)
    out = console()
    try:
        credentials.save(name, overwrite=overwrite)
        out.print(f"Saved OxenCredentials block [bold]{name}[/] (base URL {credentials.base_url}).")
        if s3_bucket:
            from prefect_aws import AwsCredentials, S3Bucket
            from prefect_aws.client_parameters import AwsClientParameters

            endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
            aws = AwsCredentials(
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID") or None,
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
                aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
                region_name=os.environ.get("AWS_DEFAULT_REGION")
                or os.environ.get("AWS_REGION")
                or None,
                aws_client_parameters=AwsClientParameters(endpoint_url=endpoint),
            )
            aws.save(aws_block_name, overwrite=overwrite)
            S3Bucket(bucket_name=s3_bucket, credentials=aws, bucket_folder=s3_folder).save(
                s3_block_name, overwrite=overwrite
            )
            out.print(
                f"Saved AwsCredentials block [bold]{aws_block_name}[/] and S3Bucket block "
                f"[bold]{s3_block_name}[/] (bucket {s3_bucket}{'/' + s3_folder if s3_folder else ''})."
            )
    except ObjectAlreadyExists:
        raise BadInput(
            "A block with that name already exists; pass --overwrite to replace it."
        ) from None
    except ValueError as exc:
        # Prefect says "a name that is already in use for this block type ... overwrite=True".
        if "already in use" in str(exc) or "already exists" in str(exc):
            raise BadInput(
                "A block with that name already exists; pass --overwrite to replace it."
            ) from None
        raise
    out.print(
        f'Use it with [bold]--credentials-block {name}[/], `OxenCredentials.load("{name}")` in '
        f"code, or `$ref: {{block_document_slug: oxen-credentials/{name}}}` in prefect.yaml"
        + (f'; the archive with `archive_block="{s3_block_name}"`.' if s3_bucket else ".")
    )
