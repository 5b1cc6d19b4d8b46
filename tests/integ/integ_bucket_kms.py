#!/usr/bin/env python3
"""A passed-in bucket encrypted with a KMS key: Forecast writes with the key, the job is ACTIVE."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import cloud_assembly_schema as cas
from aws_cdk import integ_tests_alpha as integ
from cdk_forecast_export import ForecastExport
from common import assert_exported, forecast_arn, jobs_gone

JOB = "integ_bucket_kms"

app = cdk.App()
stack = cdk.Stack(app, "IntegForecastExportBucketKms")
key = kms.Key(stack, "DataKey", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.DESTROY)
bucket = s3.Bucket(
    stack,
    "DataLake",
    encryption=s3.BucketEncryption.KMS,
    encryption_key=key,
    enforce_ssl=True,
    block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
    removal_policy=cdk.RemovalPolicy.DESTROY,
    auto_delete_objects=True,
)
export = ForecastExport(
    stack, "Export", forecast_arn=forecast_arn(stack), export_job_name=JOB, bucket=bucket, prefix="forecasts", encryption_key=key
)
test = integ.IntegTest(app, "BucketWithKmsKey", test_cases=[stack], hooks=cas.Hooks(post_destroy=[jobs_gone(JOB)]))
assert_exported(test.assertions, export)
app.synth()
