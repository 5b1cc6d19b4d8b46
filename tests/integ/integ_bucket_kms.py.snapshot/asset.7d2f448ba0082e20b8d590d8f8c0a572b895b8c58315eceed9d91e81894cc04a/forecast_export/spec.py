"""The custom resource's properties, parsed and checked before any Forecast call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import contract, rules
from .errors import InvalidProperties
from .naming import JobIdentity

RUN_ID_MAX_LENGTH = 128


@dataclass(frozen=True)
class ExportSpec:
    base_name: str
    forecast_arn: str
    path: str
    role_arn: str
    kms_key_arn: str | None
    format: str
    tags: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = rules.TIMEOUT_DEFAULT_SECONDS
    retain: bool = False
    run_id: str = ""
    access_role_arn: str = ""  # the role the handler assumes to act for the requesting stack
    job_folder: bool = False  # each job writes into <path>/<job name>/
    service_timeout_seconds: int = rules.TIMEOUT_DEFAULT_SECONDS + rules.CLEANUP_MARGIN_SECONDS

    def identity(self, stack_id: str, logical_id: str) -> JobIdentity:
        """What names this resource's jobs (see naming.py)."""
        return JobIdentity(
            stack_id=stack_id,
            logical_id=logical_id,
            base_name=self.base_name,
            forecast_arn=self.forecast_arn,
            path=self.path,
            role_arn=self.role_arn,
            kms_key_arn=self.kms_key_arn or "",
            format=self.format,
            run_id=self.run_id,
            job_folder=self.job_folder,
        )

    def job_path(self, job_name: str) -> str:
        """Where one job writes: its own folder under the path (JobFolder), so jobs never mix files."""
        if not self.job_folder:
            return self.path
        return f"{self.path if self.path.endswith('/') else self.path + '/'}{job_name}/"

    def destination(self, job_name: str) -> dict[str, Any]:
        s3_config: dict[str, str] = {"Path": self.job_path(job_name), "RoleArn": self.role_arn}
        if self.kms_key_arn:
            s3_config["KMSKeyArn"] = self.kms_key_arn
        return {"S3Config": s3_config}


def _text(props: Mapping[str, Any], key: str, problems: list[str], default: str | None = None) -> str:
    value = props.get(key, default)
    if value is None:
        problems.append(f"{key} is missing")
        return ""
    if not isinstance(value, str):
        problems.append(f"{key} {rules.show(value)} must be a string")
        return ""
    return value


def parse_tags(raw: Any, problems: list[str]) -> dict[str, str]:
    """Tags as CloudFormation sends them ([{Key, Value}]) as a dict; problems are appended."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, list) or not all(isinstance(t, dict) and set(t) == {"Key", "Value"} for t in raw):
        problems.append(f"Tags {rules.show(raw)} must be a list of {{Key, Value}} objects")
        return {}
    tags = {str(t["Key"]): str(t["Value"]) for t in raw}
    if len(tags) != len(raw):
        problems.append("Tags holds the same key twice")
    return tags


def _timeout(raw: Any, problems: list[str]) -> int:
    try:
        seconds = int(str(raw))
    except ValueError:
        problems.append(f"TimeoutSeconds {rules.show(raw)} must be a whole number of seconds")
        return rules.TIMEOUT_DEFAULT_SECONDS
    problems.extend(rules.check_timeout("TimeoutSeconds", seconds))
    return seconds


def _service_timeout(raw: Any) -> int:
    """How long CloudFormation waits for the answer: the resource's ServiceTimeout, 3600 s when absent.

    A ServiceTimeout shorter than TimeoutSeconds wins: the handler must answer before CloudFormation gives up."""
    try:
        seconds = int(str(raw)) if raw is not None else rules.SERVICE_TIMEOUT_MAX_SECONDS
    except ValueError:
        seconds = rules.SERVICE_TIMEOUT_MAX_SECONDS
    return max(1, min(seconds, rules.SERVICE_TIMEOUT_MAX_SECONDS))


def parse_spec(props: Mapping[str, Any], *, account: str | None = None, region: str | None = None) -> ExportSpec:
    """Parse ResourceProperties (all strings, as CloudFormation sends them) or raise InvalidProperties.

    ``account`` and ``region`` are the handler's own; resources elsewhere are rejected because
    Forecast cannot use another account's role and the forecast must be in the caller's region.
    """
    problems: list[str] = []
    base_name = _text(props, "ForecastExportJobName", problems)
    forecast_arn = _text(props, "ForecastArn", problems)
    destination = props.get("Destination")
    s3_config = destination.get("S3Config") if isinstance(destination, dict) else None
    if not isinstance(s3_config, dict):
        problems.append(f"Destination {rules.show(destination)} must hold S3Config with Path and RoleArn")
        s3_config = {}
    path = _text(s3_config, "Path", problems)
    role_arn = _text(s3_config, "RoleArn", problems)
    kms_key_arn = s3_config.get("KMSKeyArn") or None
    export_format = _text(props, "Format", problems, default="CSV")
    tags = parse_tags(props.get("Tags"), problems)
    timeout_seconds = _timeout(props.get("TimeoutSeconds", rules.TIMEOUT_DEFAULT_SECONDS), problems)
    removal = props.get("RemovalPolicy", "Delete")
    if removal not in ("Delete", "Retain"):
        problems.append(f"RemovalPolicy {rules.show(removal)} must be Delete or Retain")
    polling = props.get("Polling", "Fast")  # both modes now behave alike (rules.POLLING_MODES); still checked
    if polling not in rules.POLLING_MODES:
        problems.append(f"Polling {rules.show(polling)} must be one of {', '.join(rules.POLLING_MODES)}")

    run_id = _text(props, contract.RUN_ID_PROPERTY, problems, default="")
    access_role_arn = _text(props, contract.ACCESS_ROLE_PROPERTY, problems)
    job_folder = props.get(contract.JOB_FOLDER_PROPERTY, "false")
    if job_folder not in ("true", "false", True, False):
        problems.append(f"JobFolder {rules.show(job_folder)} must be true or false")
    if access_role_arn:
        problems.extend(rules.check_role_arn("AccessRoleArn", access_role_arn, account=account))
    if len(run_id) > RUN_ID_MAX_LENGTH:
        problems.append(f"RunId {rules.show(run_id)} is {len(run_id)} characters; at most {RUN_ID_MAX_LENGTH}")
    service_timeout = _service_timeout(props.get("ServiceTimeout"))

    if base_name:
        problems.extend(rules.check_job_name("ForecastExportJobName", base_name, max_length=contract.BASE_MAX_LENGTH))
    if forecast_arn:
        problems.extend(rules.check_forecast_arn("ForecastArn", forecast_arn, account=account, region=region))
    if path:
        problems.extend(rules.check_s3_path("Destination.S3Config.Path", path))
    if role_arn:
        problems.extend(rules.check_role_arn("Destination.S3Config.RoleArn", role_arn, account=account))
    if kms_key_arn is not None:
        problems.extend(
            rules.check_kms_key_arn("Destination.S3Config.KMSKeyArn", str(kms_key_arn), account=account, region=region)
        )
    if export_format:
        problems.extend(rules.check_format("Format", export_format))
    problems.extend(rules.check_tags("Tags", tags))
    if problems:
        raise InvalidProperties(problems)
    return ExportSpec(
        base_name=base_name,
        forecast_arn=forecast_arn,
        path=path,
        role_arn=role_arn,
        kms_key_arn=str(kms_key_arn) if kms_key_arn else None,
        format=export_format,
        tags=tags,
        timeout_seconds=timeout_seconds,
        retain=removal == "Retain",
        run_id=run_id,
        access_role_arn=access_role_arn,
        job_folder=job_folder in ("true", True),
        service_timeout_seconds=service_timeout,
    )
