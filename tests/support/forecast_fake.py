"""A local Amazon Forecast that speaks the JSON 1.1 protocol for export jobs.

botocore reaches it through AWS_ENDPOINT_URL_FORECAST. Requests are checked against botocore's
own service model (lengths, patterns, enums, required members) and against the rules only the
real service enforces (role account, forecast account and region, tag rules, name uniqueness per
forecast, the 3-jobs-being-created quota). Jobs move through the real statuses on a VirtualClock,
each with a scripted outcome. Test support code: never shipped.

Defaults follow the API reference, the harsh reading where it leaves room:
- DeleteForecastExportJob accepts only ACTIVE or CREATE_FAILED jobs, anything else is
  ResourceInUseException (https://docs.aws.amazon.com/forecast/latest/dg/API_DeleteForecastExportJob.html):
  so CREATE_STOPPED and DELETE_FAILED jobs are refused unless a test opts in
  (``stopped_deletable``, ``delete_failed_deletable``).
- A deletion can end in DELETE_FAILED (status list in
  https://docs.aws.amazon.com/forecast/latest/dg/API_DescribeForecastExportJob.html), scripted per
  job with ``Outcome(delete_fails=True)``; it then stays DELETE_FAILED, with a Message.
- A stopped job keeps its name (StopResource:
  https://docs.aws.amazon.com/forecast/latest/dg/API_StopResource.html; it cannot be resumed).
- Every status change is also a state-change event for EventBridge (source ``aws.forecast``,
  best effort; FACTS.md "EventBridge"). No example of the real body is published, so its shape is
  a knob (``EventShape``): either documented detail-type, the job ARN in ``resources`` or only in
  the detail (``ForecastExportJobArn`` or ``ResourceArn``), ``Status`` or ``status``. Statuses are
  computed lazily from each job's timeline; ``take_changes`` replays the timeline to find the
  moments of change, which the driver turns into events.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import botocore.session
import regex  # botocore's model uses \p{...} classes, which re lacks

from .virtual_clock import VirtualClock

PENDING_SECONDS = 10.0
STOP_SECONDS = 20.0
DELETE_PENDING_SECONDS = 5.0
DELETE_SECONDS = 30.0
CONCURRENT_CREATIONS = 3
EVENT_STATUSES = ("ACTIVE", "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_STOPPED")
# "Maximum number of parallel StopResource tasks per resource type": 3, per account and region, shared with
# every tool of the account (https://docs.aws.amazon.com/forecast/latest/dg/limits.html); StopResource lists
# LimitExceededException (https://docs.aws.amazon.com/forecast/latest/dg/API_StopResource.html).
CONCURRENT_STOPS = 3
# "Maximum number of forecast export jobs: 1000" per account (limits.html); every job Forecast still knows counts,
# stopped, failed and DELETE_FAILED ones included. ``jobs_of_other_tools`` holds the account's other jobs.
MAX_EXPORT_JOBS = 1000
# The Forecast developer guide names the first; the EventBridge reference lists the second.
EXPORT_DETAIL_TYPES = ("Forecast Forecast Export Job State Change", "Forecast Export Job State Change")
ARN_PLACES = ("resources", "ForecastExportJobArn", "ResourceArn")
GONE = "DELETED"  # not a status DescribeForecastExportJob returns (the job is then not found): a guess for the event


@dataclass(frozen=True)
class EventShape:
    """How the (unpublished) body of Forecast's state-change event looks in this test."""

    detail_type: str = EXPORT_DETAIL_TYPES[0]
    arn_in: str = "resources"  # "resources" (and not in the detail), or the detail key that holds it
    status_key: str = "Status"  # or "status"

    def __post_init__(self) -> None:
        assert self.detail_type in EXPORT_DETAIL_TYPES, self.detail_type
        assert self.arn_in in ARN_PLACES, self.arn_in
        assert self.status_key in ("Status", "status"), self.status_key


ALL_SHAPES = [EventShape(d, a, k) for d in EXPORT_DETAIL_TYPES for a in ARN_PLACES for k in ("Status", "status")]


@dataclass(frozen=True)
class StatusChange:
    """One moment an export job changed status (``status`` GONE once the deletion finished)."""

    at: float
    arn: str
    status: str
    previous: str | None

    def event(self, shape: EventShape, account: str, region: str, event_id: str | None = None) -> dict[str, object]:
        detail: dict[str, object] = {
            "ForecastExportJobName": self.arn.rsplit("/", 1)[-1],
            shape.status_key: self.status,
        }
        if shape.arn_in != "resources":
            detail[shape.arn_in] = self.arn
        return {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "detail-type": shape.detail_type,
            "source": "aws.forecast",
            "account": account,
            "time": datetime.fromtimestamp(self.at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [self.arn] if shape.arn_in == "resources" else [],
            "detail": detail,
        }


@dataclass(frozen=True)
class Outcome:
    """What a job will do: become ACTIVE or CREATE_FAILED after ``seconds``, or never finish."""

    kind: str = "active"  # active, failed or never
    seconds: float = 300.0
    message: str = ""
    delete_fails: bool = False  # a deletion ends in DELETE_FAILED and stays there
    delete_message: str = "Internal error while deleting the export job"


@dataclass
class FakeJob:
    arn: str
    name: str
    forecast_arn: str
    destination: dict[str, Any]
    format: str
    tags: dict[str, str]
    created_at: float
    outcome: Outcome
    stop_at: float | None = None
    delete_at: float | None = None

    def status(self, now: float) -> str | None:
        """The status at ``now``; None once the job is gone. A stop or deletion counts from its moment
        on, so the timeline can be replayed for moments before it (``breakpoints``)."""
        if self.delete_at is not None and now >= self.delete_at:
            if now >= self.delete_at + DELETE_SECONDS:
                return "DELETE_FAILED" if self.outcome.delete_fails else None
            return "DELETE_PENDING" if now < self.delete_at + DELETE_PENDING_SECONDS else "DELETE_IN_PROGRESS"
        if self.stop_at is not None and now >= self.stop_at:
            return "CREATE_STOPPING" if now < self.stop_at + STOP_SECONDS else "CREATE_STOPPED"
        elapsed = now - self.created_at
        if elapsed < PENDING_SECONDS:
            return "CREATE_PENDING"
        if self.outcome.kind == "never" or elapsed < self.outcome.seconds:
            return "CREATE_IN_PROGRESS"
        return "ACTIVE" if self.outcome.kind == "active" else "CREATE_FAILED"

    def breakpoints(self) -> list[tuple[float, str]]:
        """Every moment the status may change, from the job's timeline, each with what happens then."""
        moments = [(self.created_at, "created"), (self.created_at + PENDING_SECONDS, "started")]
        if self.outcome.kind != "never":
            moments.append((self.created_at + max(self.outcome.seconds, PENDING_SECONDS), "finished"))
        if self.stop_at is not None:
            moments += [(self.stop_at, "stop"), (self.stop_at + STOP_SECONDS, "stopped")]
        if self.delete_at is not None:
            moments += [
                (self.delete_at, "delete"),
                (self.delete_at + DELETE_PENDING_SECONDS, "deleting"),
                (self.delete_at + DELETE_SECONDS, "deleted"),
            ]
        return sorted(moments)

    def gone_at(self) -> float | None:
        """When the job's deletion ends and Forecast no longer knows it (virtual time), if it does."""
        if self.delete_at is None or self.outcome.delete_fails:
            return None
        return self.delete_at + DELETE_SECONDS

    def finished_at(self) -> float | None:
        """When the job reached ACTIVE or CREATE_FAILED (virtual time), if it does."""
        if self.outcome.kind == "never":
            return None
        return self.created_at + max(self.outcome.seconds, PENDING_SECONDS)


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Call:
    at: float
    operation: str
    params: dict[str, Any]
    error: str = ""


@dataclass
class FakeForecast:
    clock: VirtualClock
    account: str = "111122223333"
    region: str = "us-east-1"
    stopped_deletable: bool = False  # API_DeleteForecastExportJob: only ACTIVE or CREATE_FAILED
    delete_failed_deletable: bool = False  # same page: DELETE_FAILED is neither
    concurrent_creations: int = CONCURRENT_CREATIONS  # the account quota (adjustable in AWS)
    concurrent_stops: int = CONCURRENT_STOPS  # StopResource tasks running at once, per resource type
    max_export_jobs: int = MAX_EXPORT_JOBS
    jobs_of_other_tools: int = 0
    # The EventBridge reference lists "... Deletion State Change" events for other Forecast resources and none
    # for export jobs (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-forecast.html): the end of a
    # deletion emits nothing unless a test opts in.
    deletion_events: bool = False
    # The Forecast guide's notification table names, for export jobs' state-change events, only these statuses
    # (https://docs.aws.amazon.com/forecast/latest/dg/notifications.html): changes to any other status emit
    # nothing unless a test opts in with ``all_status_events``.
    all_status_events: bool = False
    others_stopping: list[tuple[float, float]] = field(default_factory=list)  # (from, until): other tools' stops
    default_outcome: Outcome = field(default_factory=Outcome)
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by base name (job name without _hash)
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    faults: list[tuple[str, str, int, int]] = field(default_factory=list)  # operation, code, status, times
    lock: threading.RLock = field(default_factory=threading.RLock)
    event_shape: EventShape = field(default_factory=EventShape)  # the driver picks one per test
    changes: list[StatusChange] = field(default_factory=list)  # every status change found so far, in order
    _watch: dict[str, tuple[str | None, set[tuple[float, str]]]] = field(
        default_factory=dict
    )  # arn -> (last status, breakpoints looked at)

    def __post_init__(self) -> None:
        self._model = botocore.session.get_session().get_service_model("forecast")

    # --- state changes (the source of Forecast's EventBridge events) ---------------------------------

    def take_changes(self, until: float) -> list[StatusChange]:
        """Status changes of every job up to ``until`` not taken before, each at its own moment.

        Each breakpoint of a job's timeline is looked at once: one added at an instant already
        looked at (a Delete at the very moment of the last look) is still found."""
        found: list[StatusChange] = []
        with self.lock:
            for arn, job in self.jobs.items():
                last, seen = self._watch.get(arn, (None, set()))
                for point in job.breakpoints():
                    moment = point[0]
                    if moment <= until and point not in seen:
                        seen.add(point)
                        # Just after the moment: created_at + seconds - created_at may round below seconds.
                        status = job.status(moment + 1e-6) or GONE
                        if status != last:
                            if (
                                status == GONE
                                and self.deletion_events
                                or status in EVENT_STATUSES
                                or (self.all_status_events and status != GONE)
                            ):
                                found.append(StatusChange(moment, arn, status, last))
                            last = status
                self._watch[arn] = (last, seen)
            for arn in [a for a in self._watch if a not in self.jobs]:
                del self._watch[arn]  # removed by a test: no event
            found.sort(key=lambda c: (c.at, c.arn))
            self.changes += found
        return found

    def next_change_after(self, moment: float) -> float | None:
        """The earliest moment after ``moment`` at which some job may change status."""
        with self.lock:
            later = [t for job in self.jobs.values() for t, _ in job.breakpoints() if t > moment]
        return min(later) if later else None

    def changes_of(self, arn: str) -> list[StatusChange]:
        return [c for c in self.changes if c.arn == arn]

    # --- scripting --------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.calls.clear()
            self.faults.clear()
            self.outcomes.clear()
            self.default_outcome = Outcome()
            self.stopped_deletable = False
            self.delete_failed_deletable = False
            self.concurrent_creations = CONCURRENT_CREATIONS
            self.concurrent_stops = CONCURRENT_STOPS
            self.max_export_jobs = MAX_EXPORT_JOBS
            self.jobs_of_other_tools = 0
            self.deletion_events = False
            self.all_status_events = False
            self.others_stopping.clear()
            self.event_shape = EventShape()
            self.changes.clear()
            self._watch.clear()

    def stops_by_other_tools(self, count: int, seconds: float, after: float = 0.0) -> None:
        """Other tools of the account run ``count`` StopResource tasks ``after`` seconds from now, for ``seconds``."""
        start = self.clock.now() + after
        self.others_stopping += [(start, start + seconds)] * count

    def fail_next(self, operation: str, code: str = "ThrottlingException", status: int = 400, times: int = 1) -> None:
        self.faults.append((operation, code, status, times))

    def live_jobs(self) -> dict[str, str]:
        """ARN -> status of every job that still exists."""
        now = self.clock.now()
        with self.lock:
            return {arn: s for arn, job in self.jobs.items() if (s := job.status(now)) is not None}

    def kept_jobs(self) -> dict[str, str]:
        """Live jobs that are not being deleted (DELETE_FAILED ones stay: they are kept)."""
        return {arn: s for arn, s in self.live_jobs().items() if s not in ("DELETE_PENDING", "DELETE_IN_PROGRESS")}

    def stopped_jobs(self) -> dict[str, str]:
        """Kept jobs that were stopped (CREATE_STOPPING becomes CREATE_STOPPED; neither can be deleted)."""
        return {arn: s for arn, s in self.kept_jobs().items() if s in ("CREATE_STOPPING", "CREATE_STOPPED")}

    def other_kept_jobs(self) -> dict[str, str]:
        """Kept jobs that were not stopped: ACTIVE, CREATE_FAILED, still creating, DELETE_FAILED."""
        stopped = self.stopped_jobs()
        return {arn: s for arn, s in self.kept_jobs().items() if arn not in stopped}

    def add_job(self, forecast_arn: str, name: str, outcome: Outcome | None = None, *, created_ago: float = 0.0) -> str:
        """A job made outside this project (by hand, by another tool): no call is recorded."""
        forecast_name = forecast_arn.rsplit("/", 1)[-1]
        arn = f"arn:aws:forecast:{self.region}:{self.account}:forecast-export-job/{forecast_name}/{name}"
        with self.lock:
            self.jobs[arn] = FakeJob(
                arn=arn,
                name=name,
                forecast_arn=forecast_arn,
                destination={
                    "S3Config": {
                        "Path": f"s3://someone-elses-bucket/{name}/",
                        "RoleArn": f"arn:aws:iam::{self.account}:role/other",
                    }
                },
                format="CSV",
                tags={},
                created_at=self.clock.now() - created_ago,
                outcome=outcome or Outcome(),
            )
            if created_ago:  # its earlier changes happened before the test: no events for them
                job = self.jobs[arn]
                now = self.clock.now()
                self._watch[arn] = (job.status(now), {p for p in job.breakpoints() if p[0] <= now})
        return arn

    def fail_deletion(self, arn: str, message: str = "Internal error while deleting the export job") -> None:
        """Script the job's (next) deletion to end in DELETE_FAILED."""
        with self.lock:
            job = self.jobs[arn]
            job.outcome = Outcome(job.outcome.kind, job.outcome.seconds, job.outcome.message, True, message)

    def calls_to(self, operation: str) -> list[Call]:
        return [c for c in self.calls if c.operation == operation and not c.error]

    # --- protocol -----------------------------------------------------------------------------

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            call = Call(self.clock.now(), operation, params)
            self.calls.append(call)
            try:
                self._inject_fault(operation)
                self._validate_against_model(operation, params)
                method = getattr(self, "_" + re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower(), None)
                if method is None:
                    raise ServiceError("UnknownOperationException", f"{operation} is not served by the local Forecast")
                return method(params)  # type: ignore[no-any-return]
            except (KeyError, TypeError) as error:
                call.error = "InvalidInputException"
                raise ServiceError("InvalidInputException", f"malformed request: {error!r}") from error
            except ServiceError as error:
                call.error = error.code
                raise

    def _inject_fault(self, operation: str) -> None:
        for index, (op, code, status, times) in enumerate(self.faults):
            if op in (operation, "*") and times > 0:
                self.faults[index] = (op, code, status, times - 1)
                raise ServiceError(code, f"injected {code}", status)

    def _validate_against_model(self, operation: str, params: dict[str, Any]) -> None:
        shape = self._model.operation_model(operation).input_shape
        problems: list[str] = []
        self._check_shape(shape, params, shape.name, problems)
        if problems:
            raise ServiceError("InvalidInputException", "; ".join(problems))

    def _check_shape(self, shape: Any, value: Any, where: str, problems: list[str]) -> None:
        meta = shape.metadata
        if shape.type_name == "structure":
            for name in getattr(shape, "required_members", []):
                if name not in value:
                    problems.append(f"{where}.{name} is required")
            for name, member in shape.members.items():
                if name in value:
                    self._check_shape(member, value[name], f"{where}.{name}", problems)
        elif shape.type_name == "list":
            if "max" in meta and len(value) > meta["max"]:
                problems.append(f"{where} has more than {meta['max']} items")
            for item in value:
                self._check_shape(shape.member, item, where + "[]", problems)
        elif shape.type_name == "string":
            if "max" in meta and len(value) > meta["max"]:
                problems.append(f"{where} is longer than {meta['max']}")
            if "min" in meta and len(value) < meta["min"]:
                problems.append(f"{where} is shorter than {meta['min']}")
            # The model gives every Arn member Forecast's own ARN pattern; the service itself takes IAM
            # and KMS ARNs in RoleArn and KMSKeyArn, so those two are checked by their own rules below.
            other_service_arn = where.endswith((".RoleArn", ".KMSKeyArn"))
            if (
                "pattern" in meta
                and not other_service_arn
                and not regex.fullmatch(meta["pattern"].strip("^$"), value, regex.DOTALL)
            ):
                problems.append(f"{where} does not match {meta['pattern']}")
            if shape.enum and value not in shape.enum:
                problems.append(f"{where} must be one of {shape.enum}")

    # --- operations ---------------------------------------------------------------------------------

    def _job(self, arn: str) -> FakeJob:
        job = self.jobs.get(arn)
        if job is None or job.status(self.clock.now()) is None:
            raise ServiceError("ResourceNotFoundException", f"No export job {arn}")
        return job

    def _check_tags(self, tags: dict[str, str]) -> None:
        if len(tags) > 50:
            raise ServiceError("LimitExceededException", "A resource can have at most 50 tags")
        for key, value in tags.items():
            if key.lower().startswith("aws:"):
                raise ServiceError("InvalidInputException", f"Tag key {key} uses the reserved prefix aws:")
            for text in (key, value):
                if not re.fullmatch(r"[\w\s.:/=+\-@]*", text):
                    raise ServiceError("InvalidInputException", f"Tag {key} has forbidden characters")

    def _create_forecast_export_job(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        forecast_arn = params["ForecastArn"]
        match = re.fullmatch(r"arn:aws:forecast:([^:]+):(\d{12}):forecast/(\w+)", forecast_arn)
        if not match or match[1] != self.region or match[2] != self.account:
            raise ServiceError("ResourceNotFoundException", f"No forecast {forecast_arn} in {self.account}/{self.region}")
        s3 = params["Destination"]["S3Config"]
        role_account = s3["RoleArn"].split(":")[4]
        if role_account != self.account:
            raise ServiceError("InvalidInputException", "The role must be in the caller's account")
        if params.get("Format", "CSV") not in ("CSV", "PARQUET"):
            raise ServiceError("InvalidInputException", f"Format {params['Format']} is not supported")
        tags = {t["Key"]: t["Value"] for t in params.get("Tags", [])}
        self._check_tags(tags)
        name = params["ForecastExportJobName"]
        arn = f"arn:aws:forecast:{self.region}:{self.account}:forecast-export-job/{match[3]}/{name}"
        if arn in self.jobs and self.jobs[arn].status(now) is not None:
            raise ServiceError("ResourceAlreadyExistsException", f"An export job named {name} already exists")
        creating = [j for j in self.jobs.values() if j.status(now) in ("CREATE_PENDING", "CREATE_IN_PROGRESS", "CREATE_STOPPING")]
        if len(creating) >= self.concurrent_creations:
            raise ServiceError("LimitExceededException", "You can have at most 3 export jobs being created concurrently")
        existing = sum(1 for j in self.jobs.values() if j.status(now) is not None) + self.jobs_of_other_tools
        if existing >= self.max_export_jobs:
            raise ServiceError("LimitExceededException", f"You can have at most {self.max_export_jobs} export jobs")
        base = name.rsplit("_", 1)[0]
        self.jobs[arn] = FakeJob(
            arn=arn,
            name=name,
            forecast_arn=forecast_arn,
            destination=params["Destination"],
            format=params.get("Format", "CSV"),
            tags=tags,
            created_at=now,
            outcome=self.outcomes.get(base, self.default_outcome),
        )
        return {"ForecastExportJobArn": arn}

    def _describe_forecast_export_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["ForecastExportJobArn"])
        status = job.status(self.clock.now())
        answer: dict[str, Any] = {
            "ForecastExportJobArn": job.arn,
            "ForecastExportJobName": job.name,
            "ForecastArn": job.forecast_arn,
            "Destination": job.destination,
            "Format": job.format,
            "Status": status,
            "CreationTime": job.created_at,
            "LastModificationTime": self.clock.now(),
        }
        if status == "CREATE_FAILED":
            answer["Message"] = job.outcome.message or "The export failed"
        if status == "DELETE_FAILED":
            answer["Message"] = job.outcome.delete_message
        return answer

    def _delete_forecast_export_job(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["ForecastExportJobArn"])
        status = job.status(self.clock.now())
        deletable = {"ACTIVE", "CREATE_FAILED"}
        deletable |= {"CREATE_STOPPED"} if self.stopped_deletable else set()
        deletable |= {"DELETE_FAILED"} if self.delete_failed_deletable else set()
        if status not in deletable:
            raise ServiceError("ResourceInUseException", f"Export job {job.name} is {status}")
        if status == "DELETE_FAILED":  # a second attempt (only with the opt-in) succeeds
            job.outcome = Outcome(job.outcome.kind, job.outcome.seconds, job.outcome.message)
        job.delete_at = self.clock.now()
        return {}

    def _stop_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["ResourceArn"])
        status = job.status(self.clock.now())
        if status not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
            raise ServiceError("InvalidInputException", f"Export job {job.name} is {status} and cannot be stopped")
        now = self.clock.now()
        stopping = sum(1 for j in self.jobs.values() if j.status(now) == "CREATE_STOPPING")
        stopping += sum(1 for start, until in self.others_stopping if start <= now < until)
        if stopping >= self.concurrent_stops:
            raise ServiceError(
                "LimitExceededException", f"At most {self.concurrent_stops} StopResource tasks may run at once per resource type"
            )
        job.stop_at = self.clock.now()
        return {}

    def _tag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["ResourceArn"])
        merged = {**job.tags, **{t["Key"]: t["Value"] for t in params["Tags"]}}
        self._check_tags(merged)
        job.tags = merged
        return {}

    def _untag_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["ResourceArn"])
        for key in params["TagKeys"]:
            job.tags.pop(key, None)
        return {}

    def _list_tags_for_resource(self, params: dict[str, Any]) -> dict[str, Any]:
        job = self._job(params["ResourceArn"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in sorted(job.tags.items())]}

    def _list_forecast_export_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        summaries = []
        for job in self.jobs.values():
            status = job.status(now)
            if status is None:
                continue
            keep = True
            for f in params.get("Filters", []):
                actual = job.forecast_arn if f["Key"] == "ForecastArn" else status
                keep &= (actual == f["Value"]) == (f["Condition"] == "IS")
            if keep:
                summaries.append(
                    {
                        "ForecastExportJobArn": job.arn,
                        "ForecastExportJobName": job.name,
                        "Status": status,
                        "Destination": job.destination,
                        "CreationTime": job.created_at,
                    }
                )
        return {"ForecastExportJobs": summaries}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeForecast

    def do_POST(self) -> None:  # noqa: N802
        target = self.headers.get("X-Amz-Target", "")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)) or 0)
        operation = target.split(".", 1)[-1]
        try:
            status, payload = 200, self.fake.handle(operation, json.loads(body or b"{}"))
        except ServiceError as error:
            status, payload = error.status, {"__type": error.code, "message": error.message}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class ForecastServer:
    """Runs a FakeForecast on 127.0.0.1 in a background thread."""

    def __init__(self, fake: FakeForecast) -> None:
        handler = type("BoundHandler", (_Handler,), {"fake": fake})
        self.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ForecastServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
