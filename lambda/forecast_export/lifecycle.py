"""What Create, Update and Delete do to an export job, one look at a time.

Each request starts with ``begin_*`` (no waiting) and is then advanced by ``step`` until it
returns an outcome. The state between steps is a ``PollState``; it travels in crhelper's Data so
that a later invocation can carry on. Failures clean up the job they made before answering, so a
failed deploy never leaves a job behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import naming, rules
from .clock import Clock
from .jobs import ForecastJobs, JobView, error_code, same_destination
from .spec import ExportSpec, parse_tags
from .status import JobStatus

logger = logging.getLogger(__name__)


class ExportFailed(RuntimeError):
    """The request failed; the message is the Reason CloudFormation shows the user."""


@dataclass
class PollState:
    op: str  # Create, Update or Delete
    phase: str  # create, wait, stop, delete or done
    job_arn: str
    job_name: str
    path: str
    deadline: float
    cleanup_deadline: float
    timeout_seconds: int
    physical_id: str = ""  # the answer on success
    failure: str = ""  # set once the request has failed and the job is being cleaned up
    warning: str = ""

    def to_data(self) -> dict[str, Any]:
        return {"State": asdict(self)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PollState:
        return cls(**data["State"])

    def outputs(self) -> dict[str, str]:
        """The custom resource's attributes (Fn::GetAtt)."""
        return {
            "ForecastExportJobArn": self.job_arn,
            "ForecastExportJobName": self.job_name,
            "DestinationPath": self.path,
        }


class Lifecycle:
    def __init__(self, jobs: ForecastJobs, clock: Clock) -> None:
        self._jobs = jobs
        self._clock = clock

    # --- starting a request -------------------------------------------------------------------

    def _new_state(self, op: str, phase: str, spec: ExportSpec, stack_id: str, logical_id: str) -> PollState:
        now = self._clock.now()
        name = naming.job_name(spec, stack_id, logical_id)
        deadline = now + spec.timeout_seconds
        cleanup = deadline if op == "Delete" else deadline + rules.CLEANUP_MARGIN_SECONDS - 60
        return PollState(
            op=op,
            phase=phase,
            job_arn=naming.job_arn(spec.forecast_arn, name),
            job_name=name,
            path=spec.path,
            deadline=deadline,
            cleanup_deadline=cleanup,
            timeout_seconds=spec.timeout_seconds,
        )

    def begin_create(self, spec: ExportSpec, stack_id: str, logical_id: str) -> PollState:
        state = self._new_state("Create", "create", spec, stack_id, logical_id)
        state.physical_id = state.job_arn
        return state

    def begin_update(
        self, spec: ExportSpec, old_props: Mapping[str, Any], physical_id: str, stack_id: str, logical_id: str
    ) -> PollState:
        state = self._new_state("Update", "create", spec, stack_id, logical_id)
        state.physical_id = state.job_arn
        if state.job_arn != physical_id:
            logger.info("Settings that need a new job changed: replacing %s with %s", physical_id, state.job_arn)
            return state
        old_tags = parse_tags(old_props.get("Tags"), [])
        try:
            self._jobs.sync_tags(state.job_arn, old_tags, spec.tags)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            logger.warning("Job %s is gone; creating it again", state.job_arn)
            return state
        state.phase = "done"
        return state

    def begin_delete(self, spec: ExportSpec | None, job_arn: str | None, physical_id: str) -> PollState:
        now = self._clock.now()
        timeout = spec.timeout_seconds if spec else rules.TIMEOUT_DEFAULT_SECONDS
        parts = rules.parse_export_job_arn(job_arn) if job_arn else None
        return PollState(
            op="Delete",
            phase="delete" if job_arn else "done",
            job_arn=job_arn or "",
            job_name=parts.name if parts else "",
            path=spec.path if spec else "",
            deadline=now + timeout,
            cleanup_deadline=now + timeout,
            timeout_seconds=timeout,
            physical_id=physical_id,
        )

    # --- one look at the job --------------------------------------------------------------------

    def step(self, state: PollState, spec: ExportSpec | None) -> str | None:
        """Advance the request; return the physical ID when it succeeded, None to look again later.

        Raises ExportFailed when it failed (after the job it made has been cleaned up).
        """
        if state.phase == "done":
            return self._finish(state)
        if state.phase == "create":
            return self._step_create(state, spec)
        job = self._jobs.describe(state.job_arn)
        if state.phase == "wait":
            return self._step_wait(state, job)
        return self._step_cleanup(state, job)

    def _step_create(self, state: PollState, spec: ExportSpec | None) -> str | None:
        if spec is None:
            raise ExportFailed(
                f"Export job {state.job_name} could not be created later: the properties were too large to keep "
                "between polls. Fewer or shorter tags avoid this."
            )
        job = self._jobs.describe(state.job_arn)
        if job is None:
            try:
                self._jobs.create(spec, state.job_name)
            except ClientError as error:
                return self._create_refused(state, error)
            logger.info("Created export job %s", state.job_arn)
            state.phase = "wait"
            return None
        if job.status.is_deleting:
            logger.info("An earlier job %s is still being deleted; creating it again once it is gone", job.arn)
            return None
        if not same_destination(job, spec):
            state.job_arn = ""  # not ours: the rollback Delete must not find it through the physical ID
            raise ExportFailed(
                f"An export job named {state.job_name} already exists for this forecast with another destination "
                "or format, and was not made by this resource. Delete it or set another export job name."
            )
        logger.info("Adopting export job %s (%s)", job.arn, job.status.value)
        state.phase = "wait"
        return self._step_wait(state, job)

    def _create_refused(self, state: PollState, error: ClientError) -> str | None:
        code = error_code(error)
        if code == "ResourceAlreadyExistsException":
            return None  # made by a concurrent delivery of this request; the next look adopts it
        if code == "LimitExceededException":
            if self._clock.now() < state.deadline:
                logger.warning("Forecast refused a new export job for now (%s); trying again", error)
                return None
            raise ExportFailed(
                f"Export job {state.job_name} could not start within {state.timeout_seconds} s: Forecast allows "
                "only 3 export jobs being created at once in an account (LimitExceededException). Deploy fewer "
                "exports at once or ask for a higher quota."
            )
        message = error.response.get("Error", {}).get("Message", "")
        raise ExportFailed(f"CreateForecastExportJob refused {state.job_name}: {code}: {message}")

    def _step_wait(self, state: PollState, job: JobView | None) -> str | None:
        if job is None:
            raise ExportFailed(
                f"Export job {state.job_name} disappeared while it was being created (deleted outside CloudFormation?)"
            )
        if job.status is JobStatus.ACTIVE:
            logger.info("Export job %s is ACTIVE", job.arn)
            return state.physical_id
        if job.status.is_failed:
            detail = f": {job.message}" if job.message else ""
            return self._fail_and_clean_up(state, f"Export job {state.job_name} ended {job.status.value}{detail}", job)
        if job.status.is_creating and self._clock.now() >= state.deadline:
            self._jobs.stop(job.arn)
            return self._fail_and_clean_up(
                state, f"Export job {state.job_name} was not ACTIVE within {state.timeout_seconds} s, so it was stopped", None
            )
        if job.status is JobStatus.CREATE_STOPPING or job.status.is_deleting:
            return self._fail_and_clean_up(
                state, f"Export job {state.job_name} is {job.status.value}: stopped or deleted outside CloudFormation", job
            )
        return None

    def _fail_and_clean_up(self, state: PollState, reason: str, job: JobView | None) -> str | None:
        logger.error("%s; cleaning up before answering", reason)
        state.failure = reason
        state.phase = "stop"
        return self._step_cleanup(state, job) if job is not None else None

    def _step_cleanup(self, state: PollState, job: JobView | None) -> str | None:
        """Stop, then delete, then wait until the job is gone."""
        if job is None:
            return self._finish(state)
        if self._clock.now() >= state.cleanup_deadline:
            what = state.failure or f"Deleting export job {state.job_name}"
            raise ExportFailed(f"{what}; gave up after {state.timeout_seconds} s with the job still {job.status.value}")
        if job.status.is_creating:
            self._jobs.stop(job.arn)
            state.phase = "stop"
        elif job.status.is_deletable and not job.status.is_deleting:
            self._delete(state, job)
        elif job.status.is_deleting:
            state.phase = "delete"
        if state.phase == "done":
            return self._finish(state)
        return None

    def _delete(self, state: PollState, job: JobView) -> None:
        try:
            self._jobs.delete(job.arn)
            # A failed request answers as soon as Forecast accepted the deletion: waiting for the job to
            # be gone would only delay the error. A Delete request waits until it is gone.
            state.phase = "done" if state.failure else "delete"
        except ClientError as error:
            code = error_code(error)
            if code == "ResourceNotFoundException":
                state.phase = "done"
            elif code == "ResourceInUseException":
                self._delete_refused(state, job.arn)
            else:
                raise

    def _delete_refused(self, state: PollState, arn: str) -> None:
        """Look again: someone else may have started the deletion, or Forecast keeps stopped jobs."""
        current = self._jobs.describe(arn)
        if current is None:
            state.phase = "done"
        elif current.status.is_deleting:
            state.phase = "done" if state.failure else "delete"
        elif current.status is JobStatus.CREATE_STOPPED:
            state.warning = f"Forecast refuses to delete the stopped job {arn}; it is left in CREATE_STOPPED (it holds no data)"
            logger.warning(state.warning)
            state.phase = "done"

    def _finish(self, state: PollState) -> str:
        if state.failure:
            raise ExportFailed(state.failure + (f". {state.warning}" if state.warning else ""))
        return state.physical_id
