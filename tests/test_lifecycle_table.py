"""The request state machine, row by row, against a small in-process fake of the Forecast calls.

Each test puts one job in one status, takes one look (``Lifecycle.step``) and checks the action
(the calls made), the next phase and the answer. The end-to-end matrix (test_lifecycle_matrix.py)
runs the same code through the local CloudFormation; this file pins every row of the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from cdk_forecast_export._lambda.forecast_export.contract import JOB_NAME_MAX_LENGTH, MAX_ATTEMPTS
from cdk_forecast_export._lambda.forecast_export.errors import (
    ExportFailed,
    ForecastError,
    JobInUse,
    JobNotFound,
    NameTaken,
    QuotaReached,
    TransientError,
)
from cdk_forecast_export._lambda.forecast_export.jobs import JobView
from cdk_forecast_export._lambda.forecast_export.lifecycle import (
    ABSENT,
    ANSWER_MARGIN_SECONDS,
    CLEANUP_TABLE,
    SUPERSEDED_GRACE_SECONDS,
    WAIT_TABLE,
    Lifecycle,
    Phase,
    PollState,
)
from cdk_forecast_export._lambda.forecast_export.naming import JobIdentity
from cdk_forecast_export._lambda.forecast_export.spec import ExportSpec
from cdk_forecast_export._lambda.forecast_export.status import JobStatus

STACK_ID = "arn:aws:cloudformation:us-east-1:111122223333:stack/Tables/0f1e2d3c-aaaa-bbbb-cccc-123456789012"
SPEC = ExportSpec(
    base_name="daily",
    forecast_arn="arn:aws:forecast:us-east-1:111122223333:forecast/demand",
    path="s3://bucket/exports/",
    role_arn="arn:aws:iam::111122223333:role/forecast",
    kms_key_arn=None,
    format="CSV",
    tags={"team": "demand"},
    timeout_seconds=600,
    service_timeout_seconds=900,
)
IDENTITY = SPEC.identity(STACK_ID, "Export")


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class FakeJobs:
    """Forecast as its API reference describes it, one status per job, moved by the test."""

    clock: Clock
    jobs: dict[str, JobView] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: dict[str, Exception] = field(default_factory=dict)  # operation -> error raised once

    def _maybe_fail(self, operation: str) -> None:
        error = self.fail.pop(operation, None)
        if error is not None:
            raise error

    def put(self, arn: str, status: JobStatus, *, spec: ExportSpec = SPEC, message: str = "") -> None:
        name = arn.rsplit("/", 1)[-1]
        self.jobs[arn] = JobView(arn, name, status, message, spec.destination(name), spec.format)

    def status(self, arn: str) -> str:
        return self.jobs[arn].status.value if arn in self.jobs else ABSENT

    def describe(self, arn: str) -> JobView | None:
        self.calls.append(("describe", arn))
        self._maybe_fail("describe")
        return self.jobs.get(arn)

    def create(self, spec: ExportSpec, name: str) -> str:
        arn = f"{spec.forecast_arn.replace(':forecast/', ':forecast-export-job/')}/{name}"
        self.calls.append(("create", arn))
        self._maybe_fail("create")
        if arn in self.jobs:
            raise NameTaken("ResourceAlreadyExistsException", name)
        self.put(arn, JobStatus.CREATE_PENDING, spec=spec)
        return arn

    def stop(self, arn: str) -> bool:
        self.calls.append(("stop", arn))
        job = self.jobs.get(arn)
        if job is None or not job.status.is_creating:
            return False
        self.jobs[arn] = replace(job, status=JobStatus.CREATE_STOPPING)
        return True

    def delete(self, arn: str) -> None:
        self.calls.append(("delete", arn))
        self._maybe_fail("delete")
        job = self.jobs.get(arn)
        if job is None:
            raise JobNotFound("ResourceNotFoundException", arn)
        if not job.status.is_deletable:  # ACTIVE and CREATE_FAILED only, per the API reference
            raise JobInUse("ResourceInUseException", job.status.value)
        self.jobs[arn] = replace(job, status=JobStatus.DELETE_PENDING)

    def sync_tags(self, arn: str, wanted: dict[str, str]) -> None:
        self.calls.append(("tags", arn))
        self._maybe_fail("tags")
        if arn not in self.jobs:
            raise JobNotFound("ResourceNotFoundException", arn)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def jobs(clock: Clock) -> FakeJobs:
    return FakeJobs(clock)


@pytest.fixture
def lifecycle(jobs: FakeJobs, clock: Clock) -> Lifecycle:
    return Lifecycle(jobs, clock)  # type: ignore[arg-type]


def _step(lifecycle: Lifecycle, state: PollState, spec: ExportSpec | None = SPEC) -> tuple[str, str | None, str]:
    """One look: (phase after, physical ID or None, failure reason or "")."""
    try:
        result = lifecycle.step(state, spec, IDENTITY if spec is not None else None)
    except ExportFailed as failed:
        return "failed", None, str(failed)
    return state.phase, result, ""


def _waiting(lifecycle: Lifecycle, jobs: FakeJobs, status: str) -> PollState:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    state.phase = Phase.WAIT.value
    if status != ABSENT:
        jobs.put(state.job_arn, JobStatus(status))
    return state


# --- every row of WAIT_TABLE ------------------------------------------------------------------------

EXPECTED_WAIT = {
    # seen: (phase after one look, answer, action)
    ABSENT: ("failed", "disappeared", None),
    "CREATE_PENDING": (Phase.WAIT.value, None, None),
    "CREATE_IN_PROGRESS": (Phase.WAIT.value, None, None),
    "ACTIVE": (Phase.DONE.value, "SUCCESS", None),
    "CREATE_FAILED": ("failed", "ended CREATE_FAILED: no data", "delete"),  # deletion accepted: answer at once
    "CREATE_STOPPING": (Phase.CLEANUP.value, None, None),  # waits for CREATE_STOPPED before answering
    "CREATE_STOPPED": ("failed", "Forecast refuses to delete the stopped job", "delete"),
    "DELETE_PENDING": ("failed", "stopped or deleted outside CloudFormation", None),
    "DELETE_IN_PROGRESS": ("failed", "stopped or deleted outside CloudFormation", None),
    "DELETE_FAILED": ("failed", "stopped or deleted outside CloudFormation", None),
}


def test_every_status_has_a_wait_row_and_a_cleanup_row() -> None:
    statuses = {s.value for s in JobStatus} | {ABSENT}
    assert set(WAIT_TABLE) == statuses == set(CLEANUP_TABLE) == set(EXPECTED_WAIT)
    assert all(row.deadline in ("export", "answer") for row in WAIT_TABLE.values())


@pytest.mark.parametrize("seen", sorted(EXPECTED_WAIT))
def test_wait_row(lifecycle: Lifecycle, jobs: FakeJobs, seen: str) -> None:
    state = _waiting(lifecycle, jobs, seen)
    if seen == "CREATE_FAILED":
        jobs.put(state.job_arn, JobStatus.CREATE_FAILED, message="no data")
    phase, physical, failure = _step(lifecycle, state)
    expected_phase, answer, action = EXPECTED_WAIT[seen]
    assert phase == expected_phase
    if answer == "SUCCESS":
        assert physical == state.job_arn
    elif answer:
        assert answer in failure
    else:
        assert physical is None and not failure
    made = [op for op, _ in jobs.calls if op != "describe"]
    assert made == ([action] if action else [])


def test_a_job_still_being_created_at_the_export_deadline_is_stopped_then_reported(
    lifecycle: Lifecycle, jobs: FakeJobs, clock: Clock
) -> None:
    state = _waiting(lifecycle, jobs, "CREATE_IN_PROGRESS")
    clock.t = state.deadline
    assert _step(lifecycle, state)[0] == Phase.CLEANUP.value
    assert ("stop", state.job_arn) in jobs.calls
    jobs.put(state.job_arn, JobStatus.CREATE_STOPPED)  # Forecast finished stopping
    phase, _, failure = _step(lifecycle, state)
    assert phase == "failed"
    assert "was not ACTIVE within 600 s" in failure and "Forecast refuses to delete the stopped job" in failure


# --- every row of CLEANUP_TABLE, for a Delete and for a failed request ---------------------------------

# seen: (calls made, look again for a Delete, look again for a failed request's cleanup)
EXPECTED_CLEANUP = {
    ABSENT: ([], False, False),
    "CREATE_PENDING": (["stop"], True, True),
    "CREATE_IN_PROGRESS": (["stop"], True, True),
    "CREATE_STOPPING": ([], True, True),
    "CREATE_STOPPED": (["delete"], False, False),  # refused: reported, left
    "ACTIVE": (["delete"], True, False),
    "CREATE_FAILED": (["delete"], True, False),
    "DELETE_PENDING": ([], True, False),
    "DELETE_IN_PROGRESS": ([], True, False),
    "DELETE_FAILED": ([], False, False),
}


@pytest.mark.parametrize("failed_request", [False, True], ids=["delete", "failed-request"])
@pytest.mark.parametrize("seen", sorted(EXPECTED_CLEANUP))
def test_cleanup_row(lifecycle: Lifecycle, jobs: FakeJobs, seen: str, failed_request: bool) -> None:
    arn = IDENTITY.job_arn()
    state = lifecycle.plan_delete(SPEC, IDENTITY, arn)
    if failed_request:
        state.op, state.failure = "Create", "Export job daily failed"
    if seen != ABSENT:
        jobs.put(arn, JobStatus(seen))
    phase, physical, failure = _step(lifecycle, state)
    calls, again_for_delete, again_for_failure = EXPECTED_CLEANUP[seen]
    assert [op for op, _ in jobs.calls if op != "describe"] == calls
    again = again_for_failure if failed_request else again_for_delete
    assert phase == (Phase.CLEANUP.value if again else ("failed" if failure else Phase.DONE.value))
    if failed_request and not again:
        assert failure.startswith("Export job daily failed")
    if seen == "DELETE_FAILED" and not failed_request:
        assert "Forecast could not delete export job" in failure and "delete it by hand" in failure
    if not failed_request and not again and seen != "DELETE_FAILED":
        assert physical == arn


def test_a_delete_waits_until_the_job_is_gone(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    arn = IDENTITY.job_arn()
    jobs.put(arn, JobStatus.ACTIVE)
    state = lifecycle.plan_delete(SPEC, IDENTITY, arn)
    assert _step(lifecycle, state)[0] == Phase.CLEANUP.value  # DELETE_PENDING now
    del jobs.jobs[arn]
    assert _step(lifecycle, state) == (Phase.DONE.value, arn, "")


# --- start: find or create ------------------------------------------------------------------------------


def test_start_creates_the_first_name_when_nothing_exists(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    assert _step(lifecycle, state)[0] == Phase.WAIT.value
    assert [op for op, _ in jobs.calls] == ["describe", "create"]
    assert state.job_arn == IDENTITY.job_arn(0)


@pytest.mark.parametrize("status", ["CREATE_PENDING", "CREATE_IN_PROGRESS", "ACTIVE"])
def test_start_adopts_a_job_that_can_still_become_active(lifecycle: Lifecycle, jobs: FakeJobs, status: str) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    jobs.put(state.job_arn, JobStatus(status))
    phase, physical, _ = _step(lifecycle, state)
    assert ("create", state.job_arn) not in jobs.calls
    assert phase == (Phase.DONE.value if status == "ACTIVE" else Phase.WAIT.value)


@pytest.mark.parametrize("status", ["CREATE_FAILED", "CREATE_STOPPING", "CREATE_STOPPED", "DELETE_PENDING", "DELETE_FAILED"])
def test_start_never_adopts_a_job_that_cannot_become_active(lifecycle: Lifecycle, jobs: FakeJobs, status: str) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    jobs.put(IDENTITY.job_arn(0), JobStatus(status))
    assert _step(lifecycle, state)[0] == Phase.WAIT.value
    assert state.job_arn == IDENTITY.job_arn(1) and ("create", IDENTITY.job_arn(1)) in jobs.calls
    assert len(state.job_name) <= 63


def test_start_gives_up_clearly_when_every_name_is_taken_by_a_dead_job(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    for arn in IDENTITY.job_arns():
        jobs.put(arn, JobStatus.CREATE_STOPPED)
    phase, _, failure = _step(lifecycle, lifecycle.plan_create(SPEC, IDENTITY))
    assert phase == "failed" and f"the {MAX_ATTEMPTS - 1} names before it" in failure
    assert not [c for c in jobs.calls if c[0] == "create"]


def test_start_fails_without_touching_a_job_with_its_name_but_another_destination(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    jobs.put(state.job_arn, JobStatus.ACTIVE, spec=replace(SPEC, format="PARQUET"))
    phase, _, failure = _step(lifecycle, state)
    assert phase == "failed" and "another destination or format" in failure
    assert state.physical_id == ""  # so the rollback Delete cannot find it
    assert [op for op, _ in jobs.calls] == ["describe"]


def test_start_waits_for_a_creation_slot_until_the_export_deadline(lifecycle: Lifecycle, jobs: FakeJobs, clock: Clock) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    jobs.fail["create"] = QuotaReached("LimitExceededException", "3 being created concurrently")
    assert _step(lifecycle, state)[0] == Phase.START.value
    clock.t = state.deadline
    jobs.fail["create"] = QuotaReached("LimitExceededException", "3 being created concurrently")
    phase, _, failure = _step(lifecycle, state)
    assert phase == "failed" and "only 3 export jobs being created at once" in failure


def test_a_name_taken_by_a_concurrent_delivery_is_adopted_at_the_next_look(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    jobs.fail["create"] = NameTaken("ResourceAlreadyExistsException", "exists")
    assert _step(lifecycle, state)[0] == Phase.START.value
    jobs.put(state.job_arn, JobStatus.CREATE_IN_PROGRESS)
    assert _step(lifecycle, state)[0] == Phase.WAIT.value


def test_other_create_refusals_fail_with_forecasts_code(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    jobs.fail["create"] = ForecastError("InvalidInputException", "role in another account")
    phase, _, failure = _step(lifecycle, lifecycle.plan_create(SPEC, IDENTITY))
    assert phase == "failed" and "InvalidInputException: role in another account" in failure


# --- tags, throttling, the answer deadline ---------------------------------------------------------------


def _tags_update(lifecycle: Lifecycle, jobs: FakeJobs) -> PollState:
    jobs.put(IDENTITY.job_arn(), JobStatus.ACTIVE)
    return lifecycle.plan_update(SPEC, IDENTITY, IDENTITY, IDENTITY.job_arn(), old_tags={})


def test_a_throttled_tag_update_only_waits(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    state = _tags_update(lifecycle, jobs)
    jobs.fail["tags"] = TransientError("tag_resource: ThrottlingException")
    with pytest.raises(TransientError):  # the caller logs it and looks again later
        lifecycle.step(state, SPEC, IDENTITY)
    assert state.phase == Phase.TAGS.value
    assert _step(lifecycle, state) == (Phase.DONE.value, IDENTITY.job_arn(), "")


def test_unchanged_tags_touch_nothing(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    state = lifecycle.plan_update(SPEC, IDENTITY, IDENTITY, IDENTITY.job_arn(), old_tags=dict(SPEC.tags))
    assert _step(lifecycle, state) == (Phase.DONE.value, IDENTITY.job_arn(), "")
    assert jobs.calls == []


def test_a_tag_update_of_a_job_deleted_by_hand_creates_it_again(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    state = lifecycle.plan_update(SPEC, IDENTITY, IDENTITY, IDENTITY.job_arn(), old_tags={})
    assert _step(lifecycle, state)[0] == Phase.START.value


@pytest.mark.parametrize("phase", [Phase.TAGS, Phase.START, Phase.WAIT, Phase.CLEANUP])
def test_every_phase_gives_up_before_cloudformations_timeout(
    lifecycle: Lifecycle, jobs: FakeJobs, clock: Clock, phase: Phase
) -> None:
    state = lifecycle.plan_create(SPEC, IDENTITY)
    assert state.answer_by == state.started_at + SPEC.service_timeout_seconds - ANSWER_MARGIN_SECONDS
    state.phase, state.cleanup = phase.value, [state.job_arn]
    jobs.put(state.job_arn, JobStatus.DELETE_PENDING)
    clock.t = state.answer_by
    outcome, _, failure = _step(lifecycle, state)
    assert outcome == "failed" and "to answer before CloudFormation's timeout" in failure
    assert jobs.calls == []  # no more calls once the time is up


# --- the rollback of a replacement, superseded requests, foreign jobs -------------------------------------

NEW_SPEC = replace(SPEC, format="PARQUET")
NEW_IDENTITY = NEW_SPEC.identity(STACK_ID, "Export")


def test_the_rollback_of_an_unfinished_replacement_removes_what_it_made(
    lifecycle: Lifecycle, jobs: FakeJobs, clock: Clock
) -> None:
    old_job, new_job = IDENTITY.job_arn(), NEW_IDENTITY.job_arn()
    jobs.put(old_job, JobStatus.ACTIVE)
    jobs.put(new_job, JobStatus.CREATE_IN_PROGRESS, spec=NEW_SPEC)
    # Rollback Update: the old physical ID and properties; OldResourceProperties are the cancelled new ones.
    state = lifecycle.plan_update(SPEC, IDENTITY, NEW_IDENTITY, old_job, old_tags={})
    assert state.scan == NEW_IDENTITY.job_arns() and state.watch_until == clock.t + SUPERSEDED_GRACE_SECONDS
    for _ in range(100):  # bounded: a look every 5 s
        outcome = _step(lifecycle, state)
        if outcome[0] in (Phase.DONE.value, "failed"):
            break
        clock.t += 5
        for arn, job in list(jobs.jobs.items()):  # Forecast moves on between looks
            if job.status is JobStatus.CREATE_STOPPING:
                jobs.put(arn, JobStatus.CREATE_STOPPED, spec=NEW_SPEC)
    assert clock.t >= state.watch_until  # it kept looking for the whole grace period
    assert outcome[1] == old_job  # answered with the old job, which is untouched
    assert jobs.status(old_job) == "ACTIVE" and jobs.status(new_job) == "CREATE_STOPPED"
    assert ("stop", new_job) in jobs.calls


def test_a_delete_that_supersedes_a_create_waits_for_its_job_to_appear(
    lifecycle: Lifecycle, jobs: FakeJobs, clock: Clock
) -> None:
    cancelled = lifecycle.plan_create(SPEC, IDENTITY)  # still in start: its invocation may create the job
    delete = lifecycle.plan_delete(SPEC, IDENTITY, "Tables-Export-MADEUP123456")
    lifecycle.supersede(delete, cancelled, IDENTITY.job_arns())
    assert delete.scan == IDENTITY.job_arns() and delete.watch_until == clock.t + SUPERSEDED_GRACE_SECONDS
    assert _step(lifecycle, delete)[0] == Phase.CLEANUP.value  # nothing yet, but keeps looking
    jobs.put(cancelled.job_arn, JobStatus.CREATE_PENDING)  # the cancelled invocation created it after all
    assert _step(lifecycle, delete)[0] == Phase.CLEANUP.value
    assert ("stop", cancelled.job_arn) in jobs.calls
    jobs.put(cancelled.job_arn, JobStatus.CREATE_STOPPED)
    clock.t += SUPERSEDED_GRACE_SECONDS
    assert _step(lifecycle, delete)[0] == Phase.DONE.value


def test_a_delete_leaves_a_job_it_could_not_have_made(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    foreign = "arn:aws:forecast:us-east-1:111122223333:forecast-export-job/demand/daily_0a1b2c3d"
    jobs.put(foreign, JobStatus.ACTIVE)
    state = lifecycle.plan_delete(SPEC, IDENTITY, foreign)
    assert _step(lifecycle, state) == (Phase.DONE.value, foreign, "")
    assert jobs.calls == [] and jobs.status(foreign) == "ACTIVE"


def test_a_delete_leaves_a_job_with_its_name_but_another_destination(lifecycle: Lifecycle, jobs: FakeJobs, clock: Clock) -> None:
    arn = IDENTITY.job_arn()
    jobs.put(arn, JobStatus.ACTIVE, spec=replace(SPEC, path="s3://elsewhere/x/"))
    state = lifecycle.plan_delete(SPEC, IDENTITY, "Tables-Export-MADEUP123456")
    for _ in range(100):
        if _step(lifecycle, state)[0] != Phase.CLEANUP.value:
            break
        clock.t += 5
    assert state.phase == Phase.DONE.value
    assert jobs.status(arn) == "ACTIVE" and not [c for c in jobs.calls if c[0] != "describe"]
    assert jobs.calls.count(("describe", arn)) == 1  # looked at once, then left alone (settled)


def test_a_delete_with_retain_or_invalid_properties_touches_nothing(lifecycle: Lifecycle, jobs: FakeJobs) -> None:
    arn = IDENTITY.job_arn()
    jobs.put(arn, JobStatus.ACTIVE)
    for state in (lifecycle.plan_delete(replace(SPEC, retain=True), IDENTITY, arn), lifecycle.plan_delete(None, None, arn)):
        assert _step(lifecycle, state) == (Phase.DONE.value, arn, "")
    assert jobs.calls == []


def test_names_are_stable_unique_per_attempt_and_fit_forecasts_limit() -> None:
    long = replace(SPEC, base_name="b" * 50).identity(STACK_ID, "Export")
    names = long.job_names()
    assert len(set(names)) == MAX_ATTEMPTS and all(len(n) <= JOB_NAME_MAX_LENGTH for n in names)
    assert all(n.startswith("b" * 50 + "_0f1e2d3c") for n in names)  # the owner marker: the stack ID's first UUID group
    assert names == replace(SPEC, base_name="b" * 50, tags={}, timeout_seconds=60).identity(STACK_ID, "Export").job_names()
    assert IDENTITY.job_name() != NEW_IDENTITY.job_name()
    assert JobIdentity(**{**IDENTITY.__dict__, "run_id": "2"}).job_name() != IDENTITY.job_name()
