"""Amazon Forecast export job calls, with retries on the handler's own clock.

botocore's retries are switched off for the Forecast client (they sleep in real time and cannot be
bounded by the Lambda's remaining time); throttles and 5xx answers are retried here instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from .clock import Clock
from .spec import ExportSpec
from .status import JobStatus

if TYPE_CHECKING:
    from mypy_boto3_forecast import ForecastServiceClient
else:
    ForecastServiceClient = Any

logger = logging.getLogger(__name__)

RETRY_DELAYS_SECONDS = (1.0, 2.0, 4.0, 8.0)
_TRANSIENT_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalFailure",
}


class TransientError(RuntimeError):
    """Forecast kept throttling or failing after every retry; the poll loop tries again later."""


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in _TRANSIENT_CODES or status >= 500


@dataclass(frozen=True)
class JobView:
    arn: str
    name: str
    status: JobStatus
    message: str
    destination: dict[str, Any]
    format: str


class ForecastJobs:
    """The export job operations the lifecycle needs, on one Forecast client."""

    def __init__(self, client: ForecastServiceClient, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client, operation)
        for delay in (*RETRY_DELAYS_SECONDS, None):
            try:
                return method(**kwargs)
            except ClientError as error:
                if not is_transient(error):
                    raise
                problem = f"{operation}: {error_code(error) or 'HTTP error'}"
            except (ConnectionError, HTTPClientError) as error:
                problem = f"{operation}: {error}"
            if delay is None:
                raise TransientError(f"{problem} (gave up after {len(RETRY_DELAYS_SECONDS) + 1} attempts)")
            logger.warning("%s; retrying in %.0f s", problem, delay)
            self._clock.sleep(delay)
        raise AssertionError("unreachable")

    def describe(self, arn: str) -> JobView | None:
        """The job, or None when Forecast does not know it."""
        try:
            job = self._call("describe_forecast_export_job", ForecastExportJobArn=arn)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return None
            raise
        return JobView(
            arn=job.get("ForecastExportJobArn", arn),
            name=job.get("ForecastExportJobName", ""),
            status=JobStatus(job["Status"]),
            message=job.get("Message", ""),
            destination=job.get("Destination", {}),
            format=job.get("Format", "CSV"),
        )

    def create(self, spec: ExportSpec, name: str) -> str:
        request: dict[str, Any] = {
            "ForecastExportJobName": name,
            "ForecastArn": spec.forecast_arn,
            "Destination": spec.destination(),
            "Format": spec.format,
        }
        if spec.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(spec.tags.items())]
        return str(self._call("create_forecast_export_job", **request)["ForecastExportJobArn"])

    def stop(self, arn: str) -> bool:
        """Ask Forecast to stop a running job; False when it had already finished or gone."""
        try:
            self._call("stop_resource", ResourceArn=arn)
        except ClientError as error:
            if error_code(error) not in ("InvalidInputException", "ResourceInUseException", "ResourceNotFoundException"):
                raise
            logger.info("StopResource did not apply to %s: %s", arn, error_code(error))
            return False
        return True

    def delete(self, arn: str) -> None:
        self._call("delete_forecast_export_job", ForecastExportJobArn=arn)

    def sync_tags(self, arn: str, old: dict[str, str], new: dict[str, str]) -> None:
        removed = sorted(set(old) - set(new))
        changed = {k: v for k, v in new.items() if old.get(k) != v}
        if removed:
            self._call("untag_resource", ResourceArn=arn, TagKeys=removed)
        if changed:
            self._call("tag_resource", ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(changed.items())])


def same_destination(job: JobView, spec: ExportSpec) -> bool:
    """True when an existing job writes what the spec asks for, so adopting it is safe."""
    s3 = job.destination.get("S3Config", {})
    return (
        s3.get("Path") == spec.path
        and s3.get("RoleArn") == spec.role_arn
        and (s3.get("KMSKeyArn") or None) == spec.kms_key_arn
        and (job.format or "CSV") == spec.format
    )
