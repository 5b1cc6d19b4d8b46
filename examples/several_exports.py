#!/usr/bin/env python3
"""Several exports in one stack: one shared handler function, each export with its own permissions."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_forecast_export import ForecastExport

ENV = cdk.Environment(account="111122223333", region="us-east-1")
FORECASTS = ("demand_forecast", "supply_forecast", "returns_forecast")


def build(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "SeveralExports", env=ENV)
    for name in FORECASTS:
        ForecastExport(
            stack, name.title().replace("_", ""), forecast_arn=f"arn:aws:forecast:us-east-1:111122223333:forecast/{name}"
        )
    # Forecast creates at most 3 export jobs at once per account; more wait their turn within `timeout`.
    return [stack]


if __name__ == "__main__":
    example = cdk.App()
    build(example)
    example.synth()
