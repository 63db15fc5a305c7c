"""Entrypoints of the deployments in prefect.yaml: the package's flows, importable by file path."""

from prefect_oxen.flows import batch_flow, generate_video_flow, multi_shot_flow

__all__ = ["batch_flow", "generate_video_flow", "multi_shot_flow"]
