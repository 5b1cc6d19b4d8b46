"""Rules that Amazon Forecast enforces only on the service side.

botocore checks types, required fields and minimum lengths; everything here (maximum lengths,
patterns, enums, tag rules, account and region) is checked by the service alone, so the project
checks it twice: at synth time in the construct and at deploy time in the handler. Every check
returns a list of problem sentences that name the field, show the bad value and state the rule.
This module has no dependencies so that both sides import the very same code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import contract

JOB_NAME_MAX_LENGTH = contract.JOB_NAME_MAX_LENGTH
JOB_NAME_PATTERN = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")
ARN_MAX_LENGTH = 256
S3_PATH_MIN_LENGTH = 7
S3_PATH_MAX_LENGTH = 4096
S3_PATH_PATTERN = re.compile(r"s3://[a-z0-9].+", re.DOTALL)
EXPORT_FORMATS = contract.EXPORT_FORMATS
# Accepted for existing templates. Both mean the same since issue 11: one look per Forecast event
# and per minute (the fallback for lost events); "Fast" no longer polls inside each invocation.
POLLING_MODES = contract.POLLING_MODES
MAX_USER_TAGS = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256
# [\p{L}\p{Z}\p{N}_.:/=+\-@]: letters, separators (spaces) and numbers of any script.
_TAG_SYMBOLS = set("_.:/=+-@")

# CloudFormation waits at most 3600 s for a custom resource. The handler must give up first and
# still have time to stop the job, clean up and answer, hence the margin.
SERVICE_TIMEOUT_MAX_SECONDS = 3600
CLEANUP_MARGIN_SECONDS = 300
TIMEOUT_MIN_SECONDS = 60
TIMEOUT_MAX_SECONDS = SERVICE_TIMEOUT_MAX_SECONDS - CLEANUP_MARGIN_SECONDS
TIMEOUT_DEFAULT_SECONDS = 50 * 60

_PARTITION = r"aws(?:-[a-z]+)*"
_REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
FORECAST_ARN_PATTERN = re.compile(
    rf"arn:(?P<partition>{_PARTITION}):forecast:(?P<region>{_REGION}):(?P<account>\d{{12}}):"
    r"forecast/(?P<name>[a-zA-Z][a-zA-Z0-9_]{0,62})"
)
EXPORT_JOB_ARN_PATTERN = re.compile(
    rf"arn:(?P<partition>{_PARTITION}):forecast:(?P<region>{_REGION}):(?P<account>\d{{12}}):"
    r"forecast-export-job/(?P<forecast>[a-zA-Z][a-zA-Z0-9_]{0,62})/(?P<name>[a-zA-Z][a-zA-Z0-9_]{0,62})"
)
ROLE_ARN_PATTERN = re.compile(rf"arn:(?P<partition>{_PARTITION}):iam::(?P<account>\d{{12}}):role/[\w+=,.@/-]{{1,512}}")
KMS_KEY_ARN_PATTERN = re.compile(
    rf"arn:(?P<partition>{_PARTITION}):kms:(?P<region>{_REGION}):(?P<account>\d{{12}}):"
    r"key/[a-zA-Z0-9-]{1,128}"
)


@dataclass(frozen=True)
class ArnParts:
    """The pieces of an ARN that the same-account and same-region rules look at."""

    partition: str
    region: str
    account: str
    name: str = ""


def show(value: object) -> str:
    """Quote a value for an error message, shortened so a message stays readable."""
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + "...' (" + str(len(str(value))) + " chars)"


def parse_forecast_arn(value: str) -> ArnParts | None:
    match = FORECAST_ARN_PATTERN.fullmatch(value)
    if not match:
        return None
    return ArnParts(match["partition"], match["region"], match["account"], match["name"])


def parse_export_job_arn(value: str) -> ArnParts | None:
    match = EXPORT_JOB_ARN_PATTERN.fullmatch(value)
    if not match:
        return None
    return ArnParts(match["partition"], match["region"], match["account"], match["name"])


def check_job_name(field: str, value: str, *, max_length: int = JOB_NAME_MAX_LENGTH) -> list[str]:
    """A job name, or with ``max_length`` the base of one (the handler appends a ``_<owner><key>`` suffix)."""
    if not value:
        return [f"{field} must not be empty"]
    problems = []
    if len(value) > max_length:
        suffix = JOB_NAME_MAX_LENGTH - max_length
        why = f" (Forecast allows {JOB_NAME_MAX_LENGTH}; the handler appends a {suffix}-character suffix)" if suffix else ""
        problems.append(f"{field} {show(value)} is {len(value)} characters; at most {max_length}{why}")
    if not JOB_NAME_PATTERN.fullmatch(value):
        problems.append(
            f"{field} {show(value)} must start with a letter and hold only ASCII letters, digits and "
            "underscores (no hyphens or spaces)"
        )
    return problems


def check_forecast_arn(field: str, value: str, *, account: str | None = None, region: str | None = None) -> list[str]:
    if len(value) > ARN_MAX_LENGTH:
        return [f"{field} {show(value)} is {len(value)} characters; at most {ARN_MAX_LENGTH}"]
    parts = parse_forecast_arn(value)
    if parts is None:
        return [f"{field} {show(value)} is not a forecast ARN (arn:<partition>:forecast:<region>:<account>:forecast/<name>)"]
    return check_same_place(field, value, parts, account=account, region=region)


def check_role_arn(field: str, value: str, *, account: str | None = None) -> list[str]:
    match = ROLE_ARN_PATTERN.fullmatch(value) if len(value) <= ARN_MAX_LENGTH else None
    if match is None:
        return [f"{field} {show(value)} is not an IAM role ARN (arn:<partition>:iam::<account>:role/<name>)"]
    if account and match["account"] != account:
        return [f"{field} {show(value)} belongs to account {match['account']}; Forecast accepts only a role in account {account}"]
    return []


def check_kms_key_arn(field: str, value: str, *, account: str | None = None, region: str | None = None) -> list[str]:
    if len(value) > ARN_MAX_LENGTH:
        return [f"{field} {show(value)} is {len(value)} characters; at most {ARN_MAX_LENGTH}"]
    match = KMS_KEY_ARN_PATTERN.fullmatch(value)
    if match is None:
        return [f"{field} {show(value)} must be a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>), not an alias"]
    parts = ArnParts(match["partition"], match["region"], match["account"])
    return check_same_place(field, value, parts, account=account, region=region)


def check_same_place(field: str, value: str, parts: ArnParts, *, account: str | None, region: str | None) -> list[str]:
    problems = []
    if account and parts.account != account:
        problems.append(f"{field} {show(value)} is in account {parts.account}, not in the stack's account {account}")
    if region and parts.region != region:
        problems.append(f"{field} {show(value)} is in region {parts.region}, not in the stack's region {region}")
    return problems


def check_s3_path(field: str, value: str) -> list[str]:
    if not S3_PATH_MIN_LENGTH <= len(value) <= S3_PATH_MAX_LENGTH:
        return [f"{field} {show(value)} is {len(value)} characters; it must be {S3_PATH_MIN_LENGTH}-{S3_PATH_MAX_LENGTH}"]
    if not S3_PATH_PATTERN.fullmatch(value):
        return [f"{field} {show(value)} must look like s3://<bucket>/<prefix> with a lower-case bucket name"]
    return []


def check_prefix(field: str, value: str) -> list[str]:
    """A key prefix under the bucket: no leading slash, no empty segments, printable ASCII."""
    problems = []
    if value.startswith("/"):
        problems.append(f"{field} {show(value)} must not start with '/'")
    if "//" in value:
        problems.append(f"{field} {show(value)} must not contain empty segments ('//')")
    if any(not (32 < ord(ch) < 127) for ch in value):
        problems.append(f"{field} {show(value)} may hold only printable ASCII without spaces")
    # The bucket name takes at most 63 characters of the 4096 allowed for s3://bucket/prefix/.
    if len(value) > S3_PATH_MAX_LENGTH - len("s3://") - 63 - 2:
        problems.append(f"{field} {show(value)} is {len(value)} characters; the whole S3 path must fit in {S3_PATH_MAX_LENGTH}")
    return problems


def check_format(field: str, value: str) -> list[str]:
    if value not in EXPORT_FORMATS:
        return [f"{field} {show(value)} must be one of {', '.join(EXPORT_FORMATS)} (upper case)"]
    return []


def _tag_text_ok(text: str) -> bool:
    return all(ch.isalnum() or ch.isspace() or ch in _TAG_SYMBOLS for ch in text)


def check_tags(field: str, tags: dict[str, str]) -> list[str]:
    problems = []
    if len(tags) > MAX_USER_TAGS:
        problems.append(f"{field} has {len(tags)} tags; at most {MAX_USER_TAGS}")
    for key, value in tags.items():
        if not 1 <= len(key) <= TAG_KEY_MAX_LENGTH:
            problems.append(f"{field} key {show(key)} is {len(key)} characters; it must be 1-{TAG_KEY_MAX_LENGTH}")
        if len(value) > TAG_VALUE_MAX_LENGTH:
            problems.append(
                f"{field}[{show(key)}] value {show(value)} is {len(value)} characters; at most {TAG_VALUE_MAX_LENGTH}"
            )
        if key.lower().startswith("aws:"):
            problems.append(f"{field} key {show(key)} starts with 'aws:', which AWS reserves")
        if not _tag_text_ok(key):
            problems.append(f"{field} key {show(key)} may hold only letters, numbers, spaces and _ . : / = + - @")
        if not _tag_text_ok(value):
            problems.append(
                f"{field}[{show(key)}] value {show(value)} may hold only letters, numbers, spaces and _ . : / = + - @"
            )
    return problems


def check_timeout(field: str, seconds: float) -> list[str]:
    if not TIMEOUT_MIN_SECONDS <= seconds <= TIMEOUT_MAX_SECONDS:
        return [
            f"{field} {show(seconds)} seconds is out of range; it must be {TIMEOUT_MIN_SECONDS}-{TIMEOUT_MAX_SECONDS} s "
            f"so the handler gives up, stops the job and answers within CloudFormation's {SERVICE_TIMEOUT_MAX_SECONDS} s"
        ]
    return []
