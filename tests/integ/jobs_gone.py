#!/usr/bin/env python3
"""integ-runner hook: fail while the forecast still has an export job whose name starts with ``<base name>_``.

Usage (from tests/integ, as the hooks in integ.json run it): ``python jobs_gone.py BASE_NAME...``. The forecast is
CDK_INTEG_FORECAST_ARN's; credentials and region are boto3's defaults (those of make integ). A deletion Forecast
is still finishing gets a few minutes.
"""

from __future__ import annotations

import os
import sys
import time

import boto3

WAIT_SECONDS = 300
INTERVAL_SECONDS = 15


def remaining_jobs(forecast_arn: str, base_names: list[str]) -> list[str]:
    """The jobs of the forecast whose names are ``<base name>_<owner><key>`` for one of ``base_names``."""
    client = boto3.client("forecast", region_name=forecast_arn.split(":")[3])
    found: list[str] = []
    for page in client.get_paginator("list_forecast_export_jobs").paginate(
        Filters=[{"Key": "ForecastArn", "Value": forecast_arn, "Condition": "IS"}]
    ):
        for job in page["ForecastExportJobs"]:
            name = job["ForecastExportJobName"]
            if any(name.startswith(f"{base}_") for base in base_names):
                found.append(f"{name} ({job['Status']})")
    return found


def main(base_names: list[str]) -> int:
    forecast_arn = os.environ["CDK_INTEG_FORECAST_ARN"]
    deadline = time.monotonic() + WAIT_SECONDS
    while remaining := remaining_jobs(forecast_arn, base_names):
        if time.monotonic() > deadline:
            print(f"export jobs still there after {WAIT_SECONDS} s: {', '.join(remaining)}", file=sys.stderr)
            return 1
        time.sleep(INTERVAL_SECONDS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
