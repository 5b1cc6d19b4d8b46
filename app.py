#!/usr/bin/env python3
"""Example app: one Forecast export into a new, secure bucket.

Settings come from cdk.json's context and can be overridden on the command line:

    npx cdk synth -c forecastArn=arn:aws:forecast:eu-west-1:123456789012:forecast/my_forecast

The default forecast ARN is a placeholder so the app synthesizes offline, without an AWS account.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_forecast_export import ExportFormat, ForecastExport


def build_app(app: cdk.App) -> cdk.Stack:
    forecast_arn = str(app.node.get_context("forecastArn"))
    account, region = forecast_arn.split(":")[4], forecast_arn.split(":")[3]
    stack = cdk.Stack(
        app,
        str(app.node.try_get_context("stackName") or "ForecastExportExample"),
        env=cdk.Environment(account=account, region=region),
        description="Example: an Amazon Forecast export job managed by cdk-forecast-export",
    )
    export = ForecastExport(
        stack,
        "DailyExport",
        forecast_arn=forecast_arn,
        export_job_name=str(app.node.try_get_context("exportJobName") or "daily_export"),
        format=ExportFormat(str(app.node.try_get_context("exportFormat") or "CSV")),
        tags={"purpose": "example"},
        timeout=cdk.Duration.minutes(int(app.node.try_get_context("timeoutMinutes") or 50)),
    )
    cdk.CfnOutput(stack, "ExportJobArn", value=export.export_job_arn, description="ARN of the export job")
    cdk.CfnOutput(stack, "DestinationPath", value=export.destination_path, description="Where the exported files are")
    return stack


if __name__ == "__main__":
    example_app = cdk.App()
    build_app(example_app)
    example_app.synth()
