#!/usr/bin/env python3
"""The default export: a new bucket and the stack's own handler; the job is gone after destroy."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import cloud_assembly_schema as cas
from aws_cdk import integ_tests_alpha as integ
from cdk_forecast_export import ForecastExport
from common import assert_exported, forecast_arn, jobs_gone

JOB = "integ_default"

app = cdk.App()
stack = cdk.Stack(app, "IntegForecastExportDefault")
# The bucket goes too: nothing of the test stays in the account.
export = ForecastExport(stack, "Export", forecast_arn=forecast_arn(stack), export_job_name=JOB, destroy_bucket_with_stack=True)
test = integ.IntegTest(app, "DefaultExport", test_cases=[stack], hooks=cas.Hooks(post_destroy=[jobs_gone(JOB)]))
assert_exported(test.assertions, export)
app.synth()
