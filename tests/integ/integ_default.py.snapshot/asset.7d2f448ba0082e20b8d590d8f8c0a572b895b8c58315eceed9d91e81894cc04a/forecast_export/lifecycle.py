"""What Create, Update and Delete do to export jobs, one look at a time, as explicit tables.

A request is planned without any call (``plan_*``), then advanced by ``step`` until it returns the
physical ID (success) or raises ``ExportFailed``. Its state between looks is a ``PollState``, kept
in the polling rule's target so a later invocation carries on.

Phases:
- ``tags``: an Update that keeps the job makes its tags match (throttling only delays it).
- ``start``: find the job this request makes ACTIVE, or create it (one name per attempt; a job that
  can never become ACTIVE, like a stopped one, moves on to the next name instead of being adopted).
- ``wait``: wait for ACTIVE (``WAIT_TABLE``).
- ``cleanup``: jobs that must be gone before the answer (``CLEANUP_TABLE``): the failed job, the
  job being deleted, or the jobs of a request that was cancelled and rolled back.
- ``done``: answer.

Every row names the deadline that bounds it: ``export`` (the job must be ACTIVE by then) or
``answer`` (the last moment to answer before CloudFormation's ServiceTimeout). Nothing waits
without one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from . import contract, rules
from .clock import Clock
from .errors import ExportFailed, ForecastError, JobInUse, JobNotFound, NameTaken, QuotaReached, TransientError
from .jobs import ForecastJobs, JobView, same_destination
from .naming import JobIdentity
from .spec import ExportSpec
from .status import JobStatus

logger = logging.getLogger(__name__)

ABSENT = "ABSENT"  # Forecast does not know the job
# A cancelled request may still create its job: its invocation may be running (up to the Lambda timeout,
# 90 s). A copy still queued does nothing once CloudFormation cancelled it (confirmation.py). The request
# that rolls it back keeps looking for that job this long after CloudFormation sent it (after the cancellation).
SUPERSEDED_GRACE_SECONDS = contract.FUNCTION_TIMEOUT_SECONDS + 30
ANSWER_MARGIN_SECONDS = 60  # answer this long before CloudFormation's ServiceTimeout


class Phase(str, Enum):
    TAGS = "tags"
    START = "start"
    WAIT = "wait"
    CLEANUP = "cleanup"
    DONE = "done"


class Act(str, Enum):
    NONE = "none"
    STOP = "stop"
    DELETE = "delete"


@dataclass(frozen=True)
class WaitRow:
    """What a look at the job being waited for does."""

    action: Act
    next_phase: Phase
    answer: str  # "", "SUCCESS" or "FAILED" (FAILED after cleanup when next_phase is cleanup)
    reason: str  # the failure, formatted with job, status, message, timeout
    deadline: str  # export or answer


_CREATING = WaitRow(Act.NONE, Phase.WAIT, "", "", "export")
_OUTSIDE = "Export job {job} is {status}: stopped or deleted outside CloudFormation"
_STOPPED_OUTSIDE = WaitRow(Act.NONE, Phase.CLEANUP, "FAILED", _OUTSIDE, "answer")
_DELETED_OUTSIDE = WaitRow(Act.NONE, Phase.DONE, "FAILED", _OUTSIDE, "answer")
WAIT_TABLE: dict[str, WaitRow] = {
    ABSENT: WaitRow(
        Act.NONE,
        Phase.DONE,
        "FAILED",
        "Export job {job} disappeared while it was being created (deleted outside CloudFormation?)",
        "answer",
    ),
    JobStatus.CREATE_PENDING.value: _CREATING,
    JobStatus.CREATE_IN_PROGRESS.value: _CREATING,
    JobStatus.ACTIVE.value: WaitRow(Act.NONE, Phase.DONE, "SUCCESS", "", "answer"),
    JobStatus.CREATE_FAILED.value: WaitRow(
        Act.NONE, Phase.CLEANUP, "FAILED", "Export job {job} ended CREATE_FAILED{message}", "answer"
    ),
    JobStatus.CREATE_STOPPING.value: _STOPPED_OUTSIDE,
    JobStatus.CREATE_STOPPED.value: _STOPPED_OUTSIDE,
    JobStatus.DELETE_PENDING.value: _DELETED_OUTSIDE,
    JobStatus.DELETE_IN_PROGRESS.value: _DELETED_OUTSIDE,
    JobStatus.DELETE_FAILED.value: _DELETED_OUTSIDE,
}
# Past the export deadline, a job still being created is stopped and the request fails.
WAIT_PAST_DEADLINE = WaitRow(
    Act.STOP, Phase.CLEANUP, "FAILED", "Export job {job} was not ACTIVE within {timeout} s, so it was stopped", "answer"
)


@dataclass(frozen=True)
class CleanupRow:
    """What a look at a job that must go does. ``keep``: look at it again (a Delete request waits
    until the job is gone; a failed request answers once Forecast accepted the deletion)."""

    action: Act
    keep_for_delete: bool
    keep_for_failure: bool
    note: str = ""  # left in the answer when the job stays


CLEANUP_TABLE: dict[str, CleanupRow] = {
    ABSENT: CleanupRow(Act.NONE, False, False),
    JobStatus.CREATE_PENDING.value: CleanupRow(Act.STOP, True, True),
    JobStatus.CREATE_IN_PROGRESS.value: CleanupRow(Act.STOP, True, True),
    JobStatus.CREATE_STOPPING.value: CleanupRow(Act.NONE, True, True),
    # Not deletable per the API reference; tried once in case Forecast allows it, then left.
    JobStatus.CREATE_STOPPED.value: CleanupRow(
        Act.DELETE,
        True,
        False,
        "Forecast refuses to delete the stopped job {job} (it deletes only ACTIVE and CREATE_FAILED jobs); "
        "it stays in CREATE_STOPPED and holds no complete export",
    ),
    JobStatus.ACTIVE.value: CleanupRow(Act.DELETE, True, False),
    JobStatus.CREATE_FAILED.value: CleanupRow(Act.DELETE, True, False),
    JobStatus.DELETE_PENDING.value: CleanupRow(Act.NONE, True, False),
    JobStatus.DELETE_IN_PROGRESS.value: CleanupRow(Act.NONE, True, False),
    JobStatus.DELETE_FAILED.value: CleanupRow(
        Act.NONE, False, False, "Forecast could not delete export job {job} (DELETE_FAILED{message}); delete it by hand"
    ),
}


@dataclass
class PollState:
    op: str  # Create, Update or Delete
    phase: str
    started_at: float
    deadline: float  # the job must be ACTIVE by then (export deadline)
    answer_by: float  # the last moment to answer
    timeout_seconds: int
    job_arn: str = ""  # the job this request makes ACTIVE (Create, Update)
    job_name: str = ""
    path: str = ""
    attempt: int = 0
    cleanup: list[str] = field(default_factory=list)
    # Names a cancelled request may still create a job under: looked for, in order, until ``watch_until``.
    scan: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)  # scanned jobs that stay (stopped, foreign): not looked at again
    watch_until: float = 0.0
    skip: str = ""  # a job name the next attempt must not take (the old job, when the names collide)
    physical_id: str = ""  # the answer on success
    made_job: bool = False  # a job was created or adopted: a failed Create names it, so the rollback finds it
    failure: str = ""  # set once the request has failed and its jobs are being cleaned up
    notes: list[str] = field(default_factory=list)

    def to_data(self) -> dict[str, Any]:
        return {"State": asdict(self)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> PollState:
        return cls(**data["State"])

    def watched(self) -> list[str]:
        """The jobs whose state changes this request waits for, most important first: the job it makes
        ACTIVE, then the jobs it cleans up, then the names a cancelled request may still create."""
        arns = [self.job_arn] if self.phase in (Phase.START.value, Phase.WAIT.value) and self.job_arn else []
        arns += self.cleanup if self.phase == Phase.CLEANUP.value else []
        if self.phase == Phase.CLEANUP.value:
            arns += [a for a in self.scan if a not in self.settled]
        return list(dict.fromkeys(arns))

    def outputs(self) -> dict[str, str]:
        """The custom resource's attributes (Fn::GetAtt)."""
        return {
            contract.JOB_ARN_ATTRIBUTE: self.job_arn,
            contract.JOB_NAME_ATTRIBUTE: self.job_name,
            contract.DESTINATION_ATTRIBUTE: self.path,
        }


DELETING = (JobStatus.DELETE_PENDING.value, JobStatus.DELETE_IN_PROGRESS.value)


class Lifecycle:
    def __init__(self, jobs: ForecastJobs, clock: Clock) -> None:
        self._jobs = jobs
        self._clock = clock
        self._cleanup_seen: dict[str, str] = {}  # job ARN -> status at this invocation's last look

    def only_waiting(self, state: PollState) -> bool:
        """True when a Delete waits only for time to pass: deletions Forecast runs, or the watch for a job a
        cancelled request might still make. A look without a rule (a full event bus) keeps looking then."""
        watching = state.phase == Phase.CLEANUP.value and not state.cleanup and self._clock.now() < state.watch_until
        return self.only_deletions_pending(state) or (state.op == "Delete" and watching)

    def only_deletions_pending(self, state: PollState) -> bool:
        """True when a Delete waits for nothing but jobs Forecast is deleting. Forecast publishes no event
        when an export job's deletion ends (the EventBridge reference lists none for export jobs), so the
        caller keeps looking in the same invocation instead of waiting for the next minute's schedule."""
        return (
            state.op == "Delete"
            and state.phase == Phase.CLEANUP.value
            and bool(state.cleanup)
            and all(self._cleanup_seen.get(arn) in DELETING for arn in state.cleanup)
        )

    # --- planning (no calls) --------------------------------------------------------------------

    def _state(self, op: str, phase: Phase, timeout: int, service_timeout: int, requested_at: float | None) -> PollState:
        """Deadlines count from when CloudFormation sent the request (its response URL says), not from
        when the invocation started: a queued event must not make the handler answer too late."""
        start = min(requested_at, self._clock.now()) if requested_at else self._clock.now()
        return PollState(
            op=op,
            phase=phase.value,
            started_at=start,
            deadline=start + min(timeout, service_timeout - ANSWER_MARGIN_SECONDS),
            answer_by=start + service_timeout - ANSWER_MARGIN_SECONDS,
            timeout_seconds=timeout,
        )

    def _watch(self, state: PollState, names: list[str]) -> None:
        """Look for jobs under ``names`` until the grace period ends: a cancelled request may still make one."""
        state.scan = list(names)
        # From when CloudFormation sent this request, not from this look: a Delete planned again on Lambda's
        # next try (no rule to keep its state, on a full event bus) must not push the end of the watch.
        state.watch_until = state.started_at + SUPERSEDED_GRACE_SECONDS
        if state.phase == Phase.DONE.value:
            state.phase = Phase.CLEANUP.value

    def plan_create(self, spec: ExportSpec, identity: JobIdentity, requested_at: float | None = None) -> PollState:
        state = self._state("Create", Phase.START, spec.timeout_seconds, spec.service_timeout_seconds, requested_at)
        self._target(state, spec, identity, 0)
        return state

    def plan_update(
        self,
        spec: ExportSpec,
        identity: JobIdentity,
        old_identity: JobIdentity | None,
        physical_id: str,
        old_tags: dict[str, str] | None = None,
        requested_at: float | None = None,
    ) -> PollState:
        state = self._state("Update", Phase.START, spec.timeout_seconds, spec.service_timeout_seconds, requested_at)
        arns = identity.job_arns()
        settings_changed = old_identity is not None and old_identity.settings_key() != identity.settings_key()
        made_by_old_settings = old_identity is not None and physical_id in old_identity.job_arns()
        if physical_id not in arns or (settings_changed and made_by_old_settings):
            # (A job of the old settings that also carries one of the new names is a 1-in-14.7-million
            # collision of the 4-character key: it must still be replaced, under another name.)
            logger.info("Settings that need a new job changed: replacing %s", physical_id)
            self._target(state, spec, identity, 0)
            state.skip = physical_id
            return state
        self._target(state, spec, identity, arns.index(physical_id))
        state.phase = Phase.DONE.value if old_tags == spec.tags else Phase.TAGS.value
        if settings_changed and old_identity is not None:
            # The old properties name other jobs than the physical ID: this is the rollback of a replacing
            # update that never succeeded. Whatever that update made (or may still make) must not survive it.
            logger.info("Rolling back an unfinished replacement: removing any job it made")
            self._watch(state, old_identity.job_arns())
            state.phase = Phase.TAGS.value
        return state

    def plan_delete(
        self,
        spec: ExportSpec | None,
        identity: JobIdentity | None,
        physical_id: str,
        requested_at: float | None = None,
        *,
        replaced: bool = False,
    ) -> PollState:
        """``replaced``: CloudFormation deletes a physical ID its resource no longer holds (the old job of a
        replacement, or the new job of a rolled-back one). It sends that Delete only when its own policies
        ask for deletion, so the RemovalPolicy property, which may still say Retain from the properties
        of the ID being deleted, does not keep the job then (a kept job there is one no stack holds)."""
        timeout = spec.timeout_seconds if spec else rules.TIMEOUT_DEFAULT_SECONDS
        service_timeout = spec.service_timeout_seconds if spec else rules.SERVICE_TIMEOUT_MAX_SECONDS
        state = self._state("Delete", Phase.DONE, timeout, service_timeout, requested_at)
        state.physical_id = physical_id
        state.deadline = state.answer_by
        if spec is None or identity is None:
            logger.info("The properties are invalid, so no job can have been made from them; nothing to delete")
            return state
        if spec.retain and not replaced:
            logger.info("RemovalPolicy is Retain: leaving %s in place", physical_id)
            return state
        arns = identity.job_arns()
        if rules.parse_export_job_arn(physical_id):
            if physical_id not in arns:
                logger.warning(
                    "%s is not a job this resource could have made (its jobs are %s_%s...); leaving it untouched",
                    physical_id,
                    spec.base_name,
                    identity.job_name(0).rsplit("_", 1)[-1][:6],
                )
                return state
            state.cleanup = [physical_id]
            state.phase = Phase.CLEANUP.value
        else:
            # A physical ID CloudFormation made up: the Create was cancelled before it answered, and may
            # still be running or queued. Look for every job it could make, for the grace period.
            self._watch(state, arns)
        return state

    def supersede(self, state: PollState, other: PollState | None, names: list[str]) -> None:
        """Another request's poller was stopped to let this one act: take over the job it worked on.

        If it had not created its job yet, its invocation may still be running and create it: keep
        looking for that job for a grace period. ``names`` are the job ARNs this request may touch.
        """
        if other is None or state.op == "Create" or (state.op == "Update" and state.phase == Phase.START.value):
            return  # a Create or replacing Update adopts the same job names anyway
        candidate = other.job_arn
        if not candidate or candidate == state.job_arn or candidate not in names:
            return  # never the job this request keeps
        if candidate not in state.cleanup:
            state.cleanup.append(candidate)
        if other.phase == Phase.START.value:
            self._watch(state, names)
        if state.phase == Phase.DONE.value:
            state.phase = Phase.CLEANUP.value

    @staticmethod
    def _target(state: PollState, spec: ExportSpec, identity: JobIdentity, attempt: int) -> None:
        state.attempt = attempt
        state.job_name = identity.job_name(attempt)
        state.job_arn = identity.job_arn(attempt)
        state.path = spec.job_path(state.job_name)
        state.physical_id = state.job_arn

    # --- one look ------------------------------------------------------------------------------------

    def step(self, state: PollState, spec: ExportSpec | None, identity: JobIdentity | None) -> str | None:
        """Advance the request; the physical ID when it succeeded, None to look again later.

        Raises ExportFailed when it failed (after the jobs it made have been cleaned up).
        """
        if state.phase != Phase.DONE.value and self._clock.now() >= state.answer_by:
            self._give_up(state)
        if state.phase == Phase.TAGS.value:
            self._step_tags(state, spec)
        elif state.phase == Phase.START.value:
            self._step_start(state, spec, identity)
        elif state.phase == Phase.WAIT.value:
            self._step_wait(state)
        elif state.phase == Phase.CLEANUP.value:
            # A Delete also checks the destination: a job that merely has this resource's name is not touched.
            self._step_cleanup(state, spec if state.op == "Delete" else None)
        if state.phase == Phase.DONE.value:
            return self._finish(state)
        return None

    def _give_up(self, state: PollState) -> None:
        left = ", ".join(state.cleanup) if state.cleanup else state.job_name
        what = state.failure or f"{state.op} of export job {state.job_name or left} did not finish"
        raise ExportFailed(
            f"{what}; gave up after {int(self._clock.now() - state.started_at)} s to answer before CloudFormation's "
            f"timeout, with {left} not settled"
        )

    def _step_tags(self, state: PollState, spec: ExportSpec | None) -> None:
        if spec is None:
            raise ExportFailed(_TOO_LARGE.format(job=state.job_name))
        try:
            self._jobs.sync_tags(state.job_arn, spec.tags)
        except JobNotFound:
            logger.warning("Job %s is gone; creating it again", state.job_arn)
            state.phase = Phase.START.value
            return
        state.phase = Phase.CLEANUP.value if state.cleanup or state.scan else Phase.DONE.value

    def _step_start(self, state: PollState, spec: ExportSpec | None, identity: JobIdentity | None) -> None:
        if spec is None or identity is None:
            raise ExportFailed(_TOO_LARGE.format(job=state.job_name))
        while True:
            if state.job_arn == state.skip:  # the old job under a colliding name: never adopted
                self._next_attempt(state, spec, identity)
            job = self._jobs.describe(state.job_arn)
            if job is None:
                self._create(state, spec)
                return
            if not same_destination(job, spec):
                state.physical_id = ""  # not ours: the rollback Delete must not find it through the physical ID
                raise ExportFailed(
                    f"An export job named {state.job_name} already exists for this forecast with another destination "
                    "or format, and was not made by this resource. Delete it or set another export job name."
                )
            if job.status.can_become_active:
                logger.info("Adopting export job %s (%s)", job.arn, job.status.value)
                state.made_job = True
                state.phase = Phase.WAIT.value
                self._step_wait(state, job)
                return
            logger.info("Job %s is %s and cannot become ACTIVE; the next attempt gets a new name", job.arn, job.status.value)
            self._next_attempt(state, spec, identity)

    def _next_attempt(self, state: PollState, spec: ExportSpec, identity: JobIdentity) -> None:
        if state.attempt + 1 >= contract.MAX_ATTEMPTS:
            raise ExportFailed(
                f"Export job {state.job_name} and the {contract.MAX_ATTEMPTS - 1} names before it are taken by jobs that can "
                "never become ACTIVE (Forecast keeps stopped jobs); set another export job name or run id"
            )
        self._target(state, spec, identity, state.attempt + 1)

    def _create(self, state: PollState, spec: ExportSpec) -> None:
        try:
            self._jobs.create(spec, state.job_name)
        except NameTaken:
            return  # made by a concurrent delivery of this request; the next look adopts it
        except QuotaReached as error:
            if self._clock.now() < state.deadline:
                logger.warning("Forecast refused a new export job for now (%s); trying again", error.message)
                return
            raise ExportFailed(
                f"Export job {state.job_name} could not start within {state.timeout_seconds} s: Forecast allows "
                "only 3 export jobs being created at once in an account (LimitExceededException). Deploy fewer "
                "exports at once or ask for a higher quota. The same error comes when the account holds its "
                "maximum of 1000 export jobs (stopped and failed ones count): then delete old export jobs."
            ) from error
        except ForecastError as error:
            raise ExportFailed(f"CreateForecastExportJob refused {state.job_name}: {error.code}: {error.message}") from error
        logger.info("Created export job %s", state.job_arn)
        state.made_job = True
        state.phase = Phase.WAIT.value

    def _step_wait(self, state: PollState, job: JobView | None = None) -> None:
        job = job or self._jobs.describe(state.job_arn)
        seen = job.status.value if job else ABSENT
        row = WAIT_TABLE[seen]
        if row is _CREATING and self._clock.now() >= state.deadline:
            row = WAIT_PAST_DEADLINE
        logger.info(
            "Export job %s is %s after %d s (deadline in %d s)",
            state.job_name,
            seen,
            self._clock.now() - state.started_at,
            state.deadline - self._clock.now(),
        )
        acted = row.action is Act.STOP and job is not None
        if acted:
            self._jobs.stop(state.job_arn)
        if row.answer == "FAILED":
            message = f": {job.message}" if job is not None and job.message else ""
            state.failure = row.reason.format(job=state.job_name, status=seen, message=message, timeout=state.timeout_seconds)
            logger.error("%s; cleaning up before answering", state.failure)
            if row.next_phase is Phase.CLEANUP and state.job_arn not in state.cleanup:
                state.cleanup.insert(0, state.job_arn)
        state.phase = row.next_phase.value
        if state.phase == Phase.CLEANUP.value and not acted:
            self._step_cleanup(state, None, {state.job_arn: job})

    def _step_cleanup(
        self, state: PollState, spec: ExportSpec | None, seen_jobs: Mapping[str, JobView | None] | None = None
    ) -> None:
        seen = dict(seen_jobs or {})
        if state.scan:
            self._scan(state, seen)
        remaining = []
        for arn in state.cleanup:
            job = seen[arn] if arn in seen else self._jobs.describe(arn)
            try:
                keep_looking = self._clean(state, spec, arn, job)
            except TransientError as error:  # one job waiting (a stop slot, a throttle) holds up no other
                logger.warning("%s; looking at %s again later", error, arn)
                keep_looking = True
            if keep_looking:
                remaining.append(arn)
            elif job is not None and arn not in state.settled:
                state.settled.append(arn)  # it stays (stopped, foreign, DELETE_FAILED): reported once
        state.cleanup = remaining
        if not remaining and self._clock.now() >= state.watch_until:
            state.phase = Phase.DONE.value

    def _scan(self, state: PollState, seen: dict[str, JobView | None]) -> None:
        """Pick up jobs under the watched names, in order. A request makes its job under the first name
        that is free, so the first absent name is the last one worth a look."""
        for arn in state.scan:
            if arn in state.cleanup or arn in state.settled:
                continue
            job = self._jobs.describe(arn)
            seen[arn] = job
            if job is None:
                break
            state.cleanup.append(arn)

    def _clean(self, state: PollState, spec: ExportSpec | None, arn: str, job: JobView | None) -> bool:
        """One row of CLEANUP_TABLE; True to look at the job again."""
        if job is not None and spec is not None and not same_destination(job, spec):
            logger.warning("%s has this resource's name but another destination; not made by it, left untouched", arn)
            return False
        seen = job.status.value if job else ABSENT
        self._cleanup_seen[arn] = seen
        row = CLEANUP_TABLE[seen]
        keep = row.keep_for_failure if state.failure else row.keep_for_delete
        if row.action is Act.STOP:
            self._jobs.stop(arn)
        elif row.action is Act.DELETE:
            try:
                self._jobs.delete(arn)
                logger.info("Deleting export job %s", arn)
                self._cleanup_seen[arn] = JobStatus.DELETE_PENDING.value  # accepted: Forecast is deleting it now
            except JobNotFound:
                return False
            except JobInUse:
                current = self._jobs.describe(arn)  # someone else may have started the deletion meanwhile
                if current is not None and current.status is not JobStatus.CREATE_STOPPED:
                    return True
                if current is None:
                    return False
            else:
                return keep
        if row.note and job is not None:
            note = row.note.format(job=arn, message=f": {job.message}" if job.message else "")
            logger.warning(note)
            if note not in state.notes:
                state.notes.append(note)
            if seen == JobStatus.DELETE_FAILED.value and state.op == "Delete" and not state.failure:
                state.failure = note
            return False
        if job is None:
            return False
        return keep

    def _finish(self, state: PollState) -> str:
        if state.failure:
            extra = [n for n in state.notes if n != state.failure]
            raise ExportFailed(". ".join([state.failure, *extra]))
        return state.physical_id


# Only a request a rule-based release (0.2.x) started can lack its properties: its rule kept the state without them
# when they did not fit EventBridge's 8,192 characters. The table keeps every request's properties.
_TOO_LARGE = (
    "Export job {job} could not be handled later: the properties were too large to keep between polls by the "
    "previous release's polling rule (a request in flight across the upgrade). Deploy again."
)
