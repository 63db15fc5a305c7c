"""Serves `batch_flow` as a deployment (a Runner), so a test can cancel one of its runs.

The deployment's entrypoint is the module path ``prefect_oxen.flows.batch:batch_flow``, as for an
installed package, and without server-side parameter schema enforcement, as in
deployments/prefect.yaml (the credentials parameter is a block $ref). (Serving with the default
file-path entrypoint fails parameter validation in the run: see the issue 7 report.)

Usage: python serve_child.py DEPLOYMENT_NAME
"""

import sys

from prefect import serve
from prefect.deployments.runner import EntrypointType

from prefect_oxen.flows import batch_flow

if __name__ == "__main__":
    deployment = batch_flow.to_deployment(
        name=sys.argv[1], entrypoint_type=EntrypointType.MODULE_PATH, enforce_parameter_schema=False
    )
    serve(deployment, limit=2, print_starting_message=False)
