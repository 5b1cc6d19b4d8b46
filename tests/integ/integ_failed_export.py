#!/usr/bin/env python3
"""An export of a forecast that does not exist: the deploy fails with Forecast's error, and nothing is left."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import cloud_assembly_schema as cas
from aws_cdk import integ_tests_alpha as integ
from cdk_forecast_export import ForecastExport
from common import acknowledge_empty, default_assertion_stack, jobs_gone

JOB = "integ_failed_export"
# The handler answers "CreateForecastExportJob refused <job>: <code>: <message>" (docs/TROUBLESHOOTING.md); the
# deploy's error carries the resource's reason. Matched on the code, never on Forecast's wording.
EXPECTED_MESSAGE = r"CreateForecastExportJob refused \w+: ResourceNotFoundException"

app = cdk.App()
stack = cdk.Stack(app, "IntegForecastExportFailed")
missing = cdk.Fn.join(
    "",
    [
        "arn:",
        cdk.Aws.PARTITION,
        ":forecast:",
        cdk.Aws.REGION,
        ":",
        cdk.Aws.ACCOUNT_ID,
        ":forecast/cdk_forecast_export_integ_missing",
    ],
)
ForecastExport(stack, "Export", forecast_arn=missing, export_job_name=JOB, destroy_bucket_with_stack=True)
test = integ.IntegTest(
    app,
    "FailedExport",
    test_cases=[stack],
    cdk_command_options=cas.CdkCommands(deploy=cas.DeployCommand(expect_error=True, expected_message=EXPECTED_MESSAGE)),
    # A first deploy that fails has nothing to update from.
    stack_update_workflow=False,
    hooks=cas.Hooks(post_destroy=[jobs_gone(JOB)]),
)
acknowledge_empty(default_assertion_stack(test), "the deploy fails: its message is what the test checks")
app.synth()
