#!/usr/bin/env python3
"""Example app: one Forecast export into a new, secure bucket.

Settings come from cdk.json's context and can be overridden on the command line:

    npx cdk synth -c forecastArn=arn:aws:forecast:eu-west-1:123456789012:forecast/my_forecast -c exportFormat=parquet

The default forecast ARN is a placeholder so the app synthesizes offline, without an AWS account.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from cdk_forecast_export import ExportFormat, ForecastExport

FORECAST_ARN = re.compile(r"arn:aws[a-z-]*:forecast:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):forecast/.+")


class ContextError(ValueError):
    """A context value (cdk.json or ``-c key=value``) the example app cannot use."""

    def __init__(self, key: str, value: object, expected: str) -> None:
        super().__init__(f"context {key}={value!r} is not valid: expected {expected} (set it in cdk.json or with -c {key}=...)")


def _forecast_arn(app: cdk.App) -> re.Match[str]:
    value = app.node.try_get_context("forecastArn")
    match = FORECAST_ARN.fullmatch(str(value)) if value is not None else None
    if match is None:
        raise ContextError("forecastArn", value, "a forecast ARN, arn:aws:forecast:<region>:<account>:forecast/<name>")
    return match


def _export_format(app: cdk.App) -> ExportFormat:
    value = app.node.try_get_context("exportFormat") or "CSV"
    try:
        return ExportFormat(str(value).upper())
    except ValueError:
        raise ContextError("exportFormat", value, "CSV or PARQUET (any case)") from None


def _timeout_minutes(app: cdk.App) -> int:
    value = app.node.try_get_context("timeoutMinutes") or 50
    try:
        return int(str(value))
    except ValueError:
        raise ContextError("timeoutMinutes", value, "a whole number of minutes, 1-55") from None


def build_app(app: cdk.App) -> cdk.Stack:
    arn = _forecast_arn(app)
    forecast_arn, account, region = arn.group(0), arn.group("account"), arn.group("region")
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
        format=_export_format(app),
        tags={"purpose": "example"},
        timeout=cdk.Duration.minutes(_timeout_minutes(app)),
    )
    cdk.CfnOutput(stack, "ExportJobArn", value=export.export_job_arn, description="ARN of the export job")
    cdk.CfnOutput(stack, "DestinationPath", value=export.destination_path, description="Where the exported files are")
    return stack


if __name__ == "__main__":
    example_app = cdk.App()
    build_app(example_app)
    example_app.synth()
