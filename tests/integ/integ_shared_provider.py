#!/usr/bin/env python3
"""One provider stack, two team stacks that use its handler through its exports."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import cloud_assembly_schema as cas
from aws_cdk import integ_tests_alpha as integ
from cdk_forecast_export import ForecastExport, ForecastExportProvider
from common import assert_exported, forecast_arn, jobs_gone

JOBS = ("integ_team_a", "integ_team_b")

app = cdk.App()
platform = cdk.Stack(app, "IntegForecastExportPlatform")
# An export prefix of its own: the test must not collide with a provider the account already has.
provider = ForecastExportProvider(platform, "Provider", export_prefix="IntegForecastExportProvider")
teams = []
exports = []
for team, job in zip(("TeamA", "TeamB"), JOBS, strict=True):
    stack = cdk.Stack(app, f"IntegForecastExport{team}")
    exports.append(
        ForecastExport(
            stack,
            "Export",
            forecast_arn=forecast_arn(stack),
            export_job_name=job,
            provider=provider,
            destroy_bucket_with_stack=True,
        )
    )
    teams.append(stack)
test = integ.IntegTest(app, "SharedProvider", test_cases=[platform, *teams], hooks=cas.Hooks(post_destroy=[jobs_gone(*JOBS)]))
for export in exports:
    assert_exported(test.assertions, export)
app.synth()
