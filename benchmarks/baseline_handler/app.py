"""Plain crhelper polling with its defaults: a 2-minute rule, a 120 s sleep before answering a Delete.

The one change for the benchmark: crhelper's Delete sleep runs on the harness's virtual clock, so
a 120 s wait costs no real time. Everything else is crhelper 2.0.12 as installed.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError
from crhelper import CfnResource


class Runtime:
    clock: Any = None  # set by the harness


RUNTIME = Runtime()
helper = CfnResource(log_level="WARNING")
helper._wait_for_cwlogs = lambda sleep=None: CfnResource._wait_for_cwlogs(helper, sleep=RUNTIME.clock.sleep)
forecast = boto3.client("forecast")


@helper.create
def create(event: dict[str, Any], context: Any) -> str:
    props = event["ResourceProperties"]
    name = f"{props['ForecastExportJobName']}_{event['RequestId'].replace('-', '')[:8]}"
    job = forecast.create_forecast_export_job(
        ForecastExportJobName=name, ForecastArn=props["ForecastArn"], Destination=props["Destination"], Format=props["Format"]
    )
    return str(job["ForecastExportJobArn"])


@helper.poll_create
def poll_create(event: dict[str, Any], context: Any) -> str | None:
    arn = event["CrHelperData"]["PhysicalResourceId"]
    job = forecast.describe_forecast_export_job(ForecastExportJobArn=arn)
    if job["Status"] == "ACTIVE":
        return str(arn)
    if job["Status"] in ("CREATE_FAILED", "CREATE_STOPPED"):
        raise RuntimeError(f"{job['Status']}: {job.get('Message', '')}")
    return None


@helper.delete
def delete(event: dict[str, Any], context: Any) -> str:
    try:
        forecast.delete_forecast_export_job(ForecastExportJobArn=event["PhysicalResourceId"])
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return str(event["PhysicalResourceId"])


@helper.poll_delete
def poll_delete(event: dict[str, Any], context: Any) -> str | None:
    try:
        forecast.describe_forecast_export_job(ForecastExportJobArn=event["PhysicalResourceId"])
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return str(event["PhysicalResourceId"])
        raise
    return None


def handler(event: dict[str, Any], context: Any) -> None:
    helper(event, context)
