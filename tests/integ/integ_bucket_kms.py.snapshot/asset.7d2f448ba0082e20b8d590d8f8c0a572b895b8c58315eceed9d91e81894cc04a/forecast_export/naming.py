"""Deterministic export job names and ARNs: the contract between the construct's IAM and the handler.

A job is named ``<base>_<owner><key>``:
- ``owner`` (8 hex characters) is the first group of the stack's ID (``stack/<name>/<uuid>``),
  which CloudFormation draws at random when it creates the stack. It never changes while the stack
  lives, so the handler's IAM permission on jobs (``forecast-export-job/*/*_<owner>????``) covers
  every job the stack ever made: after a rename, a forecast change, the removal of an export or a
  rollback, the old job can still be described, stopped or deleted until its Delete is answered.
  The template computes the same 8 characters with Fn::Split on ``AWS::StackId``, so the stack's
  name does not matter, and no template can claim another stack's marker.
- ``key`` (4 letters or digits, upper and lower case: 14.7 million values) hashes the stack ID, the
  logical ID, every setting that needs a new job,
  and the attempt number. A repeated event computes the same name and adopts the job it made; a
  replacement computes a new name; a retry after a job that can never become ACTIVE (Forecast keeps
  stopped jobs and their names) moves to the next attempt.

This module is imported by the construct too (no boto3 here), so both sides compute the same thing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from .contract import BASE_MAX_LENGTH, KEY_LENGTH, MAX_ATTEMPTS, OWNER_LENGTH, SUFFIX_LENGTH
from .rules import parse_forecast_arn

# The numbers live in the contract module; export.py and validation.py import BASE_MAX_LENGTH from here.
__all__ = [
    "BASE_MAX_LENGTH",
    "JOB_PATTERN_AFTER_OWNER",
    "JOB_PATTERN_BEFORE_OWNER",
    "KEY_LENGTH",
    "MAX_ATTEMPTS",
    "OWNER_LENGTH",
    "SUFFIX_LENGTH",
    "JobIdentity",
    "job_arn",
    "owner_marker",
]
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base62(text: str, length: int) -> str:
    number = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "".join(digits)


def owner_marker(stack_id: str) -> str:
    """The 8 characters every job of one stack carries before its key: ``stack/<name>/<uuid>`` -> uuid[:8]."""
    resource = stack_id.split(":", 5)[-1]
    parts = resource.split("/")
    first_group = parts[2].split("-")[0].lower() if len(parts) >= 3 else ""
    if len(first_group) == OWNER_LENGTH and all(ch in "0123456789abcdef" for ch in first_group):
        return first_group
    raise ValueError(f"not a CloudFormation stack ID: {stack_id!r}")


# The job-name part of the IAM resource pattern that covers every job of one stack, around its marker.
JOB_PATTERN_BEFORE_OWNER = "*_"
JOB_PATTERN_AFTER_OWNER = "?" * KEY_LENGTH


@dataclass(frozen=True)
class JobIdentity:
    """What names a resource's jobs: the settings that need a new job, and where the resource lives."""

    stack_id: str
    logical_id: str
    base_name: str
    forecast_arn: str
    path: str
    role_arn: str
    kms_key_arn: str
    format: str
    run_id: str = ""
    job_folder: bool = False  # the job writes into its own folder under the path: another destination

    def settings_key(self) -> str:
        """Hash of everything that needs a new job (tags, timeout, removal policy, polling excluded). A job
        folder joins the hash only when set, so templates without one keep the keys they had."""
        settings = {k: v for k, v in self.__dict__.items() if k != "job_folder" or v}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    def job_name(self, attempt: int = 0) -> str:
        owner = owner_marker(self.stack_id)
        key = _base62(f"{self.settings_key()}|{attempt}", KEY_LENGTH)
        return f"{self.base_name[:BASE_MAX_LENGTH]}_{owner}{key}"

    def job_names(self) -> list[str]:
        """Every name this resource may give a job, first attempt first."""
        return [self.job_name(attempt) for attempt in range(MAX_ATTEMPTS)]

    def job_arn(self, attempt: int = 0) -> str:
        return job_arn(self.forecast_arn, self.job_name(attempt))

    def job_arns(self) -> list[str]:
        return [job_arn(self.forecast_arn, name) for name in self.job_names()]


def job_arn(forecast_arn: str, name: str) -> str:
    parts = parse_forecast_arn(forecast_arn)
    if parts is None:
        raise ValueError(f"not a forecast ARN: {forecast_arn!r}")
    return f"arn:{parts.partition}:forecast:{parts.region}:{parts.account}:forecast-export-job/{parts.name}/{name}"
