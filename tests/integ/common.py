"""Shared by the integ_*.py apps, which run from this folder (``python integ_<name>.py``, as integ-runner runs them)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ssm as ssm
from aws_cdk import integ_tests_alpha as integ
from cdk_forecast_export import ForecastExport
from forecast_parameter import FORECAST_ARN_PARAMETER

from constructs import IConstruct

# Run from tests/integ by the runner; the virtual environment's python is first on PATH (make integ).
HOOK_PYTHON = "python"


def forecast_arn(stack: cdk.Stack) -> str:
    """The forecast ARN as a deploy-time value of ``stack`` (a CloudFormation parameter of SSM type)."""
    return ssm.StringParameter.value_for_string_parameter(stack, FORECAST_ARN_PARAMETER)


def acknowledge_empty(deploy_assert: IConstruct, reason: str) -> None:
    """An assertion stack left empty on purpose (CDK skips an empty stack on deploy): no validation error."""
    cdk.Validations.of(deploy_assert).acknowledge(cdk.Acknowledgment(id="CloudFormation-Validate::F0001", reason=reason))


def default_assertion_stack(test: integ.IntegTest) -> IConstruct:
    """The assertion stack of ``test``'s default test case."""
    return test.node.find_child("DefaultTest").node.find_child("DeployAssert")


def jobs_gone(*base_names: str) -> str:
    """A hook command that fails while the forecast still has a job whose name starts with one of ``base_names``."""
    return " ".join([HOOK_PYTHON, "jobs_gone.py", *base_names])


def assert_exported(assertions: integ.IDeployAssert, export: ForecastExport) -> None:
    """The job is ACTIVE, and its folder lists a part file."""
    assertions.aws_api_call("Forecast", "describeForecastExportJob", {"ForecastExportJobArn": export.export_job_arn}).expect(
        integ.ExpectedResult.object_like({"Status": "ACTIVE"})
    )
    listing = assertions.aws_api_call(
        "S3",
        "listObjectsV2",
        {
            "Bucket": export.bucket.bucket_name,
            "Prefix": cdk.Fn.join("", [export.prefix, "/", export.export_job_name, "/"]),
            "MaxKeys": 1,  # one key proves it and keeps the answer far below CloudFormation's 4096 bytes
        },
    )
    # integ-tests derives the IAM action from the API name (s3:ListObjectsV2), which IAM does not know.
    listing.provider.add_to_role_policy({"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["*"]})
    listing.expect(
        integ.ExpectedResult.object_like(
            {
                "KeyCount": 1,
                "Contents": integ.Match.array_with(
                    [integ.Match.object_like({"Key": integ.Match.string_like_regexp("_part[0-9]+")})]
                ),
            }
        )
    )
