#!/usr/bin/env python3
"""An export into a bucket the team already has, encrypted with its KMS key; analysts may read it."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from cdk_forecast_export import ForecastExport

ENV = cdk.Environment(account="111122223333", region="us-east-1")


def build(app: cdk.App) -> list[cdk.Stack]:
    stack = cdk.Stack(app, "SharedBucketExport", env=ENV)
    key = kms.Key(stack, "DataKey", enable_key_rotation=True)
    logs = s3.Bucket(
        stack,
        "AccessLogs",
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        encryption=s3.BucketEncryption.S3_MANAGED,
        versioned=True,
    )
    logs.node.default_child.add_metadata(  # type: ignore[union-attr]
        "checkov", {"skip": [{"id": "CKV_AWS_18", "comment": "the access-log bucket itself"}]}
    )
    data = s3.Bucket(
        stack,
        "DataLake",
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        versioned=True,
        server_access_logs_bucket=logs,
        server_access_logs_prefix="data-lake/",
    )
    export = ForecastExport(
        stack,
        "WeeklyExport",
        forecast_arn="arn:aws:forecast:us-east-1:111122223333:forecast/weekly_forecast",
        bucket=data,
        prefix="forecasts/weekly",
        encryption_key=key,
        removal_policy=cdk.RemovalPolicy.RETAIN,
        timeout=cdk.Duration.minutes(30),
    )
    analysts = iam.Role(stack, "Analysts", assumed_by=iam.AccountRootPrincipal())
    export.grant_read(analysts)
    return [stack]


if __name__ == "__main__":
    example = cdk.App()
    build(example)
    example.synth()
