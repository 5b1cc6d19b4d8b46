"""Retrying throttled and failed AWS calls on the handler's own clock, within a time budget.

botocore's retries are switched off for the handler's clients: they sleep in real time and know
nothing of the Lambda's remaining time or the polling window. Here every retry is bounded by the
``Budget`` the current invocation set, so one slow look never runs an invocation past its window
(the next look simply tries again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from .clock import Clock
from .errors import TransientError

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0, 8.0)
_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",  # DynamoDB: a hot partition (HTTP 400, so not caught as a 5xx)
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
    "InternalException",
    # DynamoDB: an item inside another transaction, or a transaction with the same token still in progress.
    "TransactionConflictException",
    "TransactionInProgressException",
}


_DENIED_CODES = {"AccessDenied", "AccessDeniedException"}


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in _TRANSIENT_CODES or status >= 500


# IAM is eventually consistent: a role or policy CloudFormation made just before the request may not be
# in force for a while (IAM user guide, "Changes that I make are not always immediately visible").
IAM_PROPAGATION_SECONDS = 120


@dataclass
class Budget:
    """The moment by which the current look must be over; set once per invocation. ``requested_at``:
    when CloudFormation sent the request, so that an AccessDenied right after it counts as IAM
    still propagating (retried) rather than as a refusal."""

    clock: Clock
    end: float = float("inf")
    requested_at: float = 0.0

    def allows(self, seconds: float) -> bool:
        return self.clock.now() + seconds <= self.end

    def iam_may_be_propagating(self) -> bool:
        return self.clock.now() < self.requested_at + IAM_PROPAGATION_SECONDS


def call_with_retries(what: str, call: Callable[[], T], budget: Budget) -> T:
    """Run ``call``; retry throttles, 5xx and connection errors while the budget lasts."""
    for delay in (*RETRY_DELAYS_SECONDS, None):
        try:
            return call()
        except ClientError as error:
            denied_while_propagating = error_code(error) in _DENIED_CODES and budget.iam_may_be_propagating()
            if not is_transient(error) and not denied_while_propagating:
                raise
            problem = f"{what}: {error_code(error) or 'HTTP error'}"
        except (ConnectionError, HTTPClientError) as error:
            problem = f"{what}: {error}"
        if delay is None or not budget.allows(delay):
            raise TransientError(f"{problem} (gave up for now after retries; the next look tries again)")
        logger.warning("%s; retrying in %.0f s", problem, delay)
        budget.clock.sleep(delay)
    raise AssertionError("unreachable")
