"""Worst-case sizes of IAM policy text, as IAM counts them: intrinsics resolved, whitespace excluded.

The construct packs ARNs into managed policies by these figures, so that no policy passes IAM's
6,144 characters whatever the resolved names turn out to be (tests/test_iam_sizes.py measures the
real resolved documents independently, at the longest names AWS allows).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam

MANAGED_POLICY_MAX = 6144
# What each managed policy holds besides the ARNs: the document skeleton, four statements with their
# actions, Sids and the PassRole condition, and the stack's job-pattern statement (about 620
# characters); the rest is margin.
POLICY_OVERHEAD = 900
QUOTE_AND_COMMA = 3

# The longest values the pseudo parameters and generated names can take.
PARTITION_MAX = len("aws-us-gov")  # aws, aws-cn, aws-us-gov, aws-iso-b
REGION_MAX = len("us-isof-south-1")
ACCOUNT = 12
ROLE_NAME_MAX = 64
ROLE_PATH_MAX = 512
FORECAST_NAME_MAX = 63
KMS_KEY_ID_MAX = len("mrk-") + 32  # multi-Region key IDs are the longest


def _known(value: str) -> str | None:
    return None if cdk.Token.is_unresolved(value) else value


def forecast_arn_cost(arn: str) -> int:
    """arn:<partition>:forecast:<region>:<account>:forecast/<name up to 63>."""
    known = _known(arn)
    worst = len("arn::forecast:::forecast/") + PARTITION_MAX + REGION_MAX + ACCOUNT + FORECAST_NAME_MAX
    return (len(known) if known is not None else worst) + QUOTE_AND_COMMA


def role_arn_cost(role: iam.IRole) -> int:
    """arn:<partition>:iam::<account>:role<path><name up to 64>."""
    known = _known(role.role_arn)
    if known is not None:
        return len(known) + QUOTE_AND_COMMA
    # A role of this app knows its path; an imported role with a deploy-time ARN may have any path.
    resource = getattr(getattr(role, "node", None), "default_child", None)
    if not isinstance(resource, iam.CfnRole):
        path_length = ROLE_PATH_MAX
    elif resource.path is None:
        path_length = 1
    else:
        path_length = len(resource.path) if _known(resource.path) is not None else ROLE_PATH_MAX
    return len("arn::iam:::role") + PARTITION_MAX + ACCOUNT + path_length + ROLE_NAME_MAX + QUOTE_AND_COMMA


def key_arn_cost(arn: str) -> int:
    """arn:<partition>:kms:<region>:<account>:key/<id>."""
    known = _known(arn)
    worst = len("arn::kms:::key/") + PARTITION_MAX + REGION_MAX + ACCOUNT + KMS_KEY_ID_MAX
    return (len(known) if known is not None else worst) + QUOTE_AND_COMMA
