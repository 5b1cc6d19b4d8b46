"""The lifecycle rule of the bucket a ForecastExport creates: old versions of exported files expire.

The bucket is versioned, so a file overwritten or deleted by hand stays as a noncurrent version, billed
as storage, forever. Each job writes new files into a folder of its own, so noncurrent versions come
only from such edits; keeping them a while lets a user restore a file deleted by mistake.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

DEFAULT_NONCURRENT_VERSION_EXPIRATION = cdk.Duration.days(30)
RULE_ID = "ExpireOldVersionsOfExportFiles"


def check_noncurrent_version_expiration(value: cdk.Duration | None, *, bucket_given: bool) -> list[str]:
    """Problems with the prop: only for the construct's own bucket; whole days, at least one, known at synth."""
    if value is None:
        return []
    if bucket_given and value is not DEFAULT_NONCURRENT_VERSION_EXPIRATION:
        return [
            "noncurrent_version_expiration applies only to the bucket this construct creates; give your own bucket "
            "its lifecycle rules"
        ]
    if value.is_unresolved():
        return [
            "noncurrent_version_expiration is a deploy-time value (a token); it must be known at synth time, because "
            "it becomes the bucket's lifecycle rule: pass cdk.Duration.days(<n>)"
        ]
    days = value.to_seconds(integral=False) / 86400
    if days < 1 or days != int(days):
        return [f"noncurrent_version_expiration {value.to_human_string()} must be a whole number of days, at least 1"]
    return []


def lifecycle_rules(expiration: cdk.Duration | None) -> list[s3.LifecycleRule] | None:
    """The new bucket's rules: noncurrent versions expire ``expiration`` after they stop being current (None: never)."""
    if expiration is None:
        return None
    return [s3.LifecycleRule(id=RULE_ID, noncurrent_version_expiration=expiration)]
