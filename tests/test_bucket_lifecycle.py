"""The new bucket's lifecycle rule: old versions of exported files expire (issue 18, shared data lakes)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template
from cdk_forecast_export import ForecastExport, ForecastExportValidationError

from tests.support.apps import ENV, FORECAST_ARN, NO_BUNDLING


def bucket_of(**props: Any) -> Template:
    stack = cdk.Stack(cdk.App(context=NO_BUNDLING), "Exports", env=ENV)
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, **props)
    return Template.from_stack(stack)


def rule(days: int) -> dict[str, Any]:
    expiry = {"Id": "ExpireOldVersionsOfExportFiles", "NoncurrentVersionExpiration": {"NoncurrentDays": days}}
    return {"LifecycleConfiguration": {"Rules": [{**expiry, "Status": "Enabled"}]}}


def test_old_versions_in_the_new_bucket_expire_after_30_days_by_default() -> None:
    bucket_of().has_resource_properties("AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}, **rule(30)})


def test_the_expiry_of_old_versions_is_settable() -> None:
    bucket_of(noncurrent_version_expiration=cdk.Duration.days(400)).has_resource_properties("AWS::S3::Bucket", rule(400))


def test_none_keeps_old_versions_for_good() -> None:
    bucket_of(noncurrent_version_expiration=None).has_resource_properties(
        "AWS::S3::Bucket", {"VersioningConfiguration": {"Status": "Enabled"}, "LifecycleConfiguration": Match.absent()}
    )


def test_a_passed_in_bucket_gets_no_lifecycle_rule() -> None:
    stack = cdk.Stack(cdk.App(context=NO_BUNDLING), "Exports", env=ENV)
    bucket = s3.Bucket(stack, "Lake", versioned=True)
    ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, bucket=bucket, prefix="exports/daily")
    Template.from_stack(stack).has_resource_properties("AWS::S3::Bucket", {"LifecycleConfiguration": Match.absent()})


def test_an_expiry_with_a_passed_in_bucket_is_refused() -> None:
    stack = cdk.Stack(cdk.App(context=NO_BUNDLING), "Exports", env=ENV)
    bucket = s3.Bucket(stack, "Lake", versioned=True)
    with pytest.raises(ForecastExportValidationError, match=r"noncurrent_version_expiration applies only to the bucket"):
        ForecastExport(
            stack, "Daily", forecast_arn=FORECAST_ARN, bucket=bucket, noncurrent_version_expiration=cdk.Duration.days(7)
        )


@pytest.mark.parametrize("duration", [cdk.Duration.hours(36), cdk.Duration.hours(12)], ids=["36-hours", "12-hours"])
def test_an_expiry_that_is_not_whole_days_is_refused(duration: cdk.Duration) -> None:
    with pytest.raises(ForecastExportValidationError, match=r"noncurrent_version_expiration .* must be a whole number of days"):
        bucket_of(noncurrent_version_expiration=duration)


def test_a_deploy_time_expiry_is_refused() -> None:
    stack = cdk.Stack(cdk.App(context=NO_BUNDLING), "Exports", env=ENV)
    days = cdk.CfnParameter(stack, "Days", type="Number").value_as_number
    with pytest.raises(ForecastExportValidationError, match=r"noncurrent_version_expiration is a deploy-time value"):
        ForecastExport(stack, "Daily", forecast_arn=FORECAST_ARN, noncurrent_version_expiration=cdk.Duration.days(days))
