#!/usr/bin/env python3
"""One export into a new bucket the construct creates (private, TLS-only, versioned, retained).

python examples/own_bucket.py        # or: npx cdk synth --app "python examples/own_bucket.py"
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_forecast_export import ExportFormat, ForecastExport

ENV = cdk.Environment(account="111122223333", region="us-east-1")


def build(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "OwnBucketExport", env=ENV)
    export = ForecastExport(
        stack,
        "DailyExport",
        forecast_arn="arn:aws:forecast:us-east-1:111122223333:forecast/demand_forecast",
        export_job_name="daily",
        format=ExportFormat.PARQUET,
        tags={"team": "demand"},
    )
    cdk.CfnOutput(stack, "Files", value=export.destination_path)
    return [stack]


if __name__ == "__main__":
    example = cdk.App()
    build(example)
    example.synth()
