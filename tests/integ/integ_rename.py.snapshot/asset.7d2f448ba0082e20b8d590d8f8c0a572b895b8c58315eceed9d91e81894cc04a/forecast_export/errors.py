"""Every error the handler raises, in one place.

``jobs`` turns Forecast's error codes into the domain errors below, so the state machine in
``lifecycle`` never looks at botocore. Messages of ``ExportFailed`` and ``InvalidProperties`` are
what CloudFormation shows the user as the resource's status reason.
"""

from __future__ import annotations


class ExportFailed(RuntimeError):
    """The request failed; the message is the Reason CloudFormation shows the user."""


class InvalidProperties(ValueError):
    """Every problem found in the resource properties, in one message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid properties: " + "; ".join(problems))


class TransientError(RuntimeError):
    """A call kept being throttled or failing within this look's time, or met a quota that frees up by
    itself (StopResource's parallel tasks); the next look tries again."""


class ForecastError(RuntimeError):
    """Forecast refused a call; ``code`` is its error code (never match on the message)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class JobNotFound(ForecastError):
    """ResourceNotFoundException: Forecast does not know the job (or the forecast)."""


class NameTaken(ForecastError):
    """ResourceAlreadyExistsException: a job with this name exists under the forecast."""


class QuotaReached(ForecastError):
    """LimitExceededException: e.g. 3 export jobs being created at once in the account."""


class JobInUse(ForecastError):
    """ResourceInUseException: the job's status does not allow the call (delete of a running job)."""


class NotAllowed(ForecastError):
    """AccessDenied: the handler's role does not allow the call on this resource."""


class RetryLater(RuntimeError):
    """Raised to Lambda, failing the invocation on purpose: Lambda runs the asynchronous event again (the
    function's MaximumRetryAttempts, after about 1 and 2 minutes). Used when CloudFormation's reads stay
    throttled, so throttling delays a request instead of losing it."""
