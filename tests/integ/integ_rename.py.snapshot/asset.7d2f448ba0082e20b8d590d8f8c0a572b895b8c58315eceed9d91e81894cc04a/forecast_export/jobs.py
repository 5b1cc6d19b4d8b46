"""Amazon Forecast export job calls, with Forecast's errors turned into the project's own.

The only module that knows Forecast's error codes: ``lifecycle`` sees ``JobNotFound``,
``QuotaReached``, ``JobInUse``... (errors.py) and ``TransientError`` when throttling outlasted
this look's budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .errors import ForecastError, JobInUse, JobNotFound, NameTaken, NotAllowed, QuotaReached, TransientError
from .retries import Budget, call_with_retries, error_code
from .spec import ExportSpec
from .status import JobStatus

if TYPE_CHECKING:
    from mypy_boto3_forecast import ForecastServiceClient
else:
    ForecastServiceClient = Any

logger = logging.getLogger(__name__)

_ERRORS: dict[str, type[ForecastError]] = {
    "ResourceNotFoundException": JobNotFound,
    "ResourceAlreadyExistsException": NameTaken,
    "LimitExceededException": QuotaReached,
    "ResourceInUseException": JobInUse,
    "AccessDeniedException": NotAllowed,
    "AccessDenied": NotAllowed,
}


@dataclass(frozen=True)
class JobView:
    arn: str
    name: str
    status: JobStatus
    message: str = ""
    destination: dict[str, Any] = field(default_factory=dict)
    format: str = "CSV"


class ForecastJobs:
    """The export job operations the lifecycle needs, on one Forecast client (made on first use)."""

    def __init__(self, client_of: Callable[[], ForecastServiceClient], budget: Budget) -> None:
        self._client_of = client_of
        self._budget = budget

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method: Callable[..., dict[str, Any]] = getattr(self._client_of(), operation)
        try:
            return call_with_retries(operation, lambda: method(**kwargs), self._budget)
        except ClientError as error:
            code = error_code(error)
            message = str(error.response.get("Error", {}).get("Message", ""))
            kind = _ERRORS.get(code, ForecastError)
            if kind is NotAllowed and self._budget.iam_may_be_propagating():
                raise TransientError(f"{operation}: {code} while IAM may still be propagating; looking again") from error
            raise kind(code, message) from error

    def describe(self, arn: str) -> JobView | None:
        """The job, or None when Forecast does not know it."""
        try:
            job = self._call("describe_forecast_export_job", ForecastExportJobArn=arn)
        except JobNotFound:
            return None
        return JobView(
            arn=job.get("ForecastExportJobArn", arn),
            name=job.get("ForecastExportJobName") or arn.rsplit("/", 1)[-1],
            status=JobStatus(job["Status"]),
            message=job.get("Message", ""),
            destination=job.get("Destination", {}),
            format=job.get("Format", "CSV"),
        )

    def create(self, spec: ExportSpec, name: str) -> str:
        request: dict[str, Any] = {
            "ForecastExportJobName": name,
            "ForecastArn": spec.forecast_arn,
            "Destination": spec.destination(name),
            "Format": spec.format,
        }
        if spec.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(spec.tags.items())]
        return str(self._call("create_forecast_export_job", **request)["ForecastExportJobArn"])

    def stop(self, arn: str) -> bool:
        """Ask Forecast to stop a running job; False when it had already finished or gone.

        Forecast runs at most 3 StopResource tasks per resource type at once, shared with every tool
        of the account (quotas page, https://docs.aws.amazon.com/forecast/latest/dg/limits.html): a
        refusal at that quota is a wait, like the creation-slot quota, never a failure. It raises
        TransientError, so the look ends with the state unchanged and the next look stops again."""
        try:
            self._call("stop_resource", ResourceArn=arn)
        except QuotaReached as error:
            raise TransientError(f"StopResource on {arn} refused for now ({error.code}: {error.message})") from error
        except (JobInUse, JobNotFound) as error:
            logger.info("StopResource did not apply to %s: %s", arn, error.code)
            return False
        except ForecastError as error:
            if error.code != "InvalidInputException":
                raise
            logger.info("StopResource did not apply to %s: %s", arn, error.code)
            return False
        return True

    def delete(self, arn: str) -> None:
        """Raises JobInUse when Forecast refuses (it deletes only ACTIVE and CREATE_FAILED jobs)."""
        self._call("delete_forecast_export_job", ForecastExportJobArn=arn)

    def sync_tags(self, arn: str, wanted: dict[str, str]) -> None:
        """Make the job's tags equal ``wanted`` (tags set outside CloudFormation are drift and go)."""
        current = {t["Key"]: t["Value"] for t in self._call("list_tags_for_resource", ResourceArn=arn).get("Tags", [])}
        removed = sorted(k for k in set(current) - set(wanted) if not k.lower().startswith("aws:"))
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if removed:
            self._call("untag_resource", ResourceArn=arn, TagKeys=removed)
        if changed:
            self._call("tag_resource", ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(changed.items())])


def same_destination(job: JobView, spec: ExportSpec) -> bool:
    """True when an existing job writes what the spec asks for, so adopting it is safe."""
    s3 = job.destination.get("S3Config", {})
    return (
        s3.get("Path") == spec.job_path(job.name)
        and s3.get("RoleArn") == spec.role_arn
        and (s3.get("KMSKeyArn") or None) == spec.kms_key_arn
        and (job.format or "CSV") == spec.format
    )
