"""Deterministic export job names and ARNs.

The name is the base name plus a short hash of everything that forces a new job (and of the stack
and logical ID, so two stacks never share a job). A repeated event computes the same name and
adopts the job it already made; a replacement computes a new name and never collides with the old
job, which CloudFormation deletes afterwards.
"""

from __future__ import annotations

import hashlib
import json

from .rules import JOB_NAME_MAX_LENGTH, parse_forecast_arn
from .spec import ExportSpec

HASH_LENGTH = 8
BASE_MAX_LENGTH = JOB_NAME_MAX_LENGTH - HASH_LENGTH - 1


def replacement_key(spec: ExportSpec, stack_id: str, logical_id: str) -> str:
    """Hash of the settings whose change needs a new job (tags, timeout, removal policy excluded)."""
    identity = {
        "stack": stack_id,
        "logical": logical_id,
        "name": spec.base_name,
        "forecast": spec.forecast_arn,
        "path": spec.path,
        "role": spec.role_arn,
        "kms": spec.kms_key_arn or "",
        "format": spec.format,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return digest[:HASH_LENGTH]


def job_name(spec: ExportSpec, stack_id: str, logical_id: str) -> str:
    return f"{spec.base_name[:BASE_MAX_LENGTH]}_{replacement_key(spec, stack_id, logical_id)}"


def job_arn(forecast_arn: str, name: str) -> str:
    parts = parse_forecast_arn(forecast_arn)
    if parts is None:
        raise ValueError(f"not a forecast ARN: {forecast_arn!r}")
    return f"arn:{parts.partition}:forecast:{parts.region}:{parts.account}:forecast-export-job/{parts.name}/{name}"
