#!/usr/bin/env python3
"""A platform team deploys the handler once; team stacks (or plain templates) use it.

The provider stack exports ForecastExportProvider-ServiceToken and ForecastExportProvider-RoleArn;
examples/plain-cloudformation.yaml shows a template that uses them without CDK.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_forecast_export import ForecastExport, ForecastExportProvider

ENV = cdk.Environment(account="111122223333", region="us-east-1")


def build(app: cdk.App) -> list[cdk.Stack]:
    platform = cdk.Stack(app, "ForecastExportPlatform", env=ENV)
    provider = ForecastExportProvider(platform, "Provider")
    team = cdk.Stack(app, "DemandTeamExports", env=ENV)
    cdk.Tags.of(team).add("team", "demand")
    ForecastExport(
        team, "Daily", forecast_arn="arn:aws:forecast:us-east-1:111122223333:forecast/demand_forecast", provider=provider
    )
    return [platform, team]


if __name__ == "__main__":
    example = cdk.App()
    build(example)
    example.synth()
