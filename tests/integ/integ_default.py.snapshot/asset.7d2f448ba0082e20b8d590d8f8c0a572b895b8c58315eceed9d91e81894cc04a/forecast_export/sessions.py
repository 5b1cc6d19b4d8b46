"""Forecast clients that act for the requesting stack: the stack's access role, assumed with a session tag.

The handler's own role may only assume roles under ``/cdk-forecast-export/``; each such role's trust
policy accepts a session only when its tag ``cdk-forecast-export:stack-id`` equals its own stack's ID.
The tag carries the StackId of the event, which CloudFormation sets: a template that names another
stack's access role gets AccessDenied, so a request can act only with permissions its own stack
defined (README, "IAM").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .clock import Clock
from .contract import STACK_ID_TAG
from .errors import ExportFailed, TransientError
from .retries import Budget, call_with_retries, error_code

logger = logging.getLogger(__name__)


RENEW_BEFORE_SECONDS = 300  # a cached session is renewed this long before it expires
SESSION_SECONDS = 3600


class Sessions:
    """One Forecast client per (access role, stack), renewed before its credentials expire."""

    def __init__(
        self, sts_of: Callable[[], Any], forecast_with: Callable[[dict[str, str]], Any], clock: Callable[[], Clock]
    ) -> None:
        self._sts_of = sts_of
        self._forecast_with = forecast_with
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[Any, float]] = {}

    def forecast(self, role_arn: str, stack_id: str, logical_id: str, budget: Budget) -> Any:
        key = (role_arn, stack_id)
        cached = self._cache.get(key)
        now = self._clock().now()
        if cached is not None and cached[1] - RENEW_BEFORE_SECONDS > now:
            return cached[0]
        session_name = re.sub(r"[^\w+=,.@-]", "-", f"cdk-forecast-export-{logical_id}")[:64]
        sts = self._sts_of()
        try:
            answer = call_with_retries(
                "sts:AssumeRole",
                lambda: sts.assume_role(
                    RoleArn=role_arn,
                    RoleSessionName=session_name,
                    DurationSeconds=SESSION_SECONDS,
                    Tags=[{"Key": STACK_ID_TAG, "Value": stack_id}],
                ),
                budget,
            )
        except ClientError as error:
            if error_code(error) in ("AccessDenied", "AccessDeniedException") and budget.iam_may_be_propagating():
                raise TransientError(f"sts:AssumeRole on {role_arn} denied while IAM may still be propagating") from error
            raise ExportFailed(
                f"Could not assume the access role {role_arn} for stack {stack_id} ({error_code(error)}): its trust policy "
                "must accept this handler's role only with the session tag cdk-forecast-export:stack-id set to this "
                "stack's ID (README, IAM permissions)"
            ) from error
        credentials = answer["Credentials"]
        client = self._forecast_with(
            {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            }
        )
        expires = credentials["Expiration"]
        expires_at = expires.timestamp() if hasattr(expires, "timestamp") else now + SESSION_SECONDS
        self._cache[key] = (client, expires_at)
        return client
