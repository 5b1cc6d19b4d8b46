"""crhelper's CfnResource, orchestrating one request across invocations (crhelper itself is not forked).

crhelper keeps what it is good at: the create/update/delete/poll decorators, logging, turning an
exception into FAILED. This subclass replaces its polling (see schedule.py for the rule, its
state and the lease) and its answering (responses.py):

- First invocation: the registered create/update/delete function plans the request without any
  AWS call; then the request claims its rule *before* it touches Forecast, so a later request
  that supersedes it (after a cancellation) always finds and stops it. A Delete with no job to look
  at (Retain, a Create that made nothing) claims no rule unless another request's rule must be
  stopped: the account's 300 rules per event bus may be full (docs/QUOTAS.md).
- Every invocation makes ONE short look at the jobs, whatever triggered it: CloudFormation, a
  Forecast state-change event matched by the rule's EventPattern (the answer goes out within
  seconds of the change), or the rule's 1-minute schedule (the safety net for lost events). No
  invocation polls or sleeps, except to wait for the lease another invocation holds: an event
  that arrives during someone else's look is not dropped, it waits for that look to end and
  then looks again.
- The rule's EventPattern follows the jobs the request watches (``watched``): PutRule again when
  they change (the next attempt's name, a job to clean up).
- Exactly one answer per request, at most 4096 bytes. An answer that cannot be delivered (the
  response URL failing) is kept in the rule and sent again at later firings until CloudFormation's
  ServiceTimeout; only a delivered answer removes the rule. A Delete's or a failed Create's answer
  also waits while the rule cannot be removed: CloudFormation may delete the handler after it.
- Nothing outlives the request: any error after the rule exists removes it; a firing that finds
  its request superseded, answered or past its deadline does nothing.

The crhelper internals overridden here are listed in CRHELPER_OVERRIDES; a test checks each still
exists in the pinned crhelper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError
from crhelper import CfnResource

from . import contract, responses
from .clock import Clock
from .confirmation import CloudFormationCheck, Unconfirmed, properties_digest
from .errors import ExportFailed, TransientError
from .retries import Budget, error_code
from .schedule import DATA, LEASE, POLL, RULE, Schedule, event_pattern, rule_name, unreadable_state

logger = logging.getLogger(__name__)

CRHELPER_OVERRIDES = ("_crhelper_init", "_polling_init", "_send", "_timeout", "_wrap_function", "_event", "_context")
PUBLIC_DATA_KEYS = contract.ATTRIBUTES
NOT_CREATED_SUFFIX = "-not-created"  # physical ID of a Create that failed before planning a job
WATCHING = "Watching"  # Data key: the job ARNs the rule's EventPattern matches now
CLAIM_KEY = "ClaimKey"  # Data key: the settings key the request's rule is named after
SUPERSEDE_KEY = "SupersedeKey"  # Data key: the settings key of a rolled-back request whose rule must stop
ANSWER = "Answer"  # Data key: an answer waiting to be delivered
PROPERTIES_DIGEST = "PropertiesDigest"  # Data key: what properties_digest gave for the request's own properties
EPISODE = "Episode"  # Data key: the stack event that confirmed the request (one per request CloudFormation sends)
ANSWER_BY = "AnswerBy"  # Data key: after this, nobody waits for the answer any more
FINISHED = "Finished"  # Data key: answered; the rule could not be removed yet
RETRY_PAUSE_SECONDS = 5  # between tries to claim or remove the rule while EventBridge throttles
ANSWER_RESERVE_SECONDS = 10  # time kept for sending the answer
LAMBDA_SAFETY_SECONDS = 30  # stop working this long before the Lambda's own timeout: one call may take ~15 s
# One look's budget (its calls and their retries stop by then) and the lease that covers it plus
# saving the state and answering. Short, so an invocation that died holds up nobody for long.
LOOK_SECONDS = 30
LEASE_SECONDS = 45
# Lambda runs a failed event again 1, then 2 minutes after the failure (MaximumRetryAttempts 2). A try fails
# 30-60 s after it starts, so the second fails by ~150 s of the request's age and the third after ~210 s: a try
# that fails younger than this has another one coming; an older one is the last, and answers instead.
LAMBDA_RETRY_WINDOW_SECONDS = 200
LOOK_STEP_SECONDS = 15
# A Delete looking without a rule (a full event bus) asks Lambda for one more try only on its first: the first try
# of a request ends within this age (unless Lambda's queue held it longer), and the second answers whatever it finds.
RULE_LESS_FIRST_TRY_SECONDS = 100  # room for one more look (a Describe with its retries) after a pause
LEASE_CHECK_SECONDS = 0.5  # how often an invocation waiting for the lease reads the rule (reads only)
DEFAULT_RULE_PREFIX = contract.RULE_PREFIX_ROOT


_REQUEST_TYPES = ("Create", "Update", "Delete")
_REQUEST_FIELDS = ("StackId", "RequestId", "LogicalResourceId", "ResourceType")


def _not_a_request(event: Any) -> str:
    """What makes ``event`` something other than a CloudFormation custom-resource request ("" if nothing)."""
    if not isinstance(event, dict):
        return f"the event is a {type(event).__name__}, not an object"
    if event.get("RequestType") not in _REQUEST_TYPES:
        return f"RequestType is {str(event.get('RequestType'))[:40]!r}"
    missing = [key for key in _REQUEST_FIELDS if not isinstance(event.get(key), str) or not event[key]]
    if missing:
        return "no " + ", ".join(missing)
    if not str(event.get("ResponseURL", "")).startswith("https://"):
        return "no https ResponseURL"
    return ""


class ForecastExportResource(CfnResource):
    if TYPE_CHECKING:  # crhelper internals this subclass builds on (crhelper's stubs declare only its public API)
        _event: dict[str, Any]
        _context: Any
        _response_url: str
        _send_response: bool
        RequestType: str

        def _wrap_function(self, func: Any) -> None: ...

    def __init__(
        self,
        clock_of: Callable[[], Clock],
        rule_prefix_of: Callable[[], str],
        events_of: Callable[[], Any],
        cloudformation_of: Callable[[], Any],
        poll_interval_seconds: float = 5.0,
    ) -> None:
        super().__init__(json_logging=True, log_level="INFO", boto_level="WARNING", polling_interval=1, sleep_on_delete=0)
        self._clock_of = clock_of
        self._rule_prefix_of = rule_prefix_of
        self._events_of = events_of
        self._cloudformation_of = cloudformation_of
        self._poll_interval = poll_interval_seconds
        self._answered = False
        self._on_superseded: Callable[[dict[str, Any]], None] = lambda data: None
        self._watched: Callable[[dict[str, Any]], list[str]] = lambda data: []
        self.budget = Budget(clock_of())
        self.lease_waits = 0  # invocations of this container that waited for another one's look
        self.retry_later = False  # the request could not be confirmed yet: the entry point asks Lambda to retry
        self._claiming: Schedule | None = None  # the schedule of this invocation's claim
        self._rule_less = False  # a Delete looking without a rule (a full event bus)
        self._episode = ""  # the stack event that confirmed this request (confirmation.py)
        self.deletes_a_replaced_id = False  # a Delete of a physical ID the resource no longer holds
        self._unconfirmable = ""  # why a request that Lambda will not run again could not be confirmed

    def superseded(self, func: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        """Register what to do with the state of a request this one stopped (decorator, like crhelper's)."""
        self._on_superseded = func
        return func

    def watched(self, func: Callable[[dict[str, Any]], list[str]]) -> Callable[[dict[str, Any]], list[str]]:
        """Register which job ARNs (most important first) the rule's EventPattern matches, from the Data."""
        self._watched = func
        return func

    # --- per invocation -----------------------------------------------------------------------------

    def begin_invocation(self, event: Any) -> bool:
        """Forget the previous invocation of this warm container, then say whether ``event`` is a request
        of CloudFormation's (or a firing of one of its rules) at all.

        crhelper keeps the last request's response URL and IDs on the object and, when an event fails
        before its own init (a console test event, a mis-targeted rule), answers FAILED to that last
        request: on a shared provider, another team's deploy. So the state goes before crhelper sees the
        event, and an event that is not CloudFormation's is never passed on: nothing is answered for it."""
        self._answered = False
        self.retry_later = False
        self._claiming = None
        self._rule_less = False
        self._episode = ""
        self._unconfirmable = ""
        self.deletes_a_replaced_id = False
        self._event, self._response_url, self.Data, self._context = {}, "", {}, None
        self.Status = self.Reason = self.PhysicalResourceId = self.StackId = self.RequestId = self.LogicalResourceId = ""
        problem = _not_a_request(event)
        if problem:
            logger.warning("Ignored an invocation that is not a CloudFormation request (%s); nothing is answered", problem)
        return not problem

    def _clock(self) -> Clock:
        return self._clock_of()

    def _schedule(self) -> Schedule:
        arn = str(self._context.invoked_function_arn)
        function_arn = arn.split(":function:")[0] + f":function:{self._context.function_name}"
        return Schedule(self._events_of(), self.budget, function_arn)

    def _crhelper_init(self, event: dict[str, Any], context: Any) -> bool:
        # Nothing of the previous invocation in this warm container may leak into an answer.
        self._answered = False
        self._context = context
        self._event, self._response_url, self.Data = event, "", {}
        self.budget = self._look_budget(context)
        if POLL in event:
            try:
                live = self._live_event(event, context)
            except Exception as error:  # throttled or denied: the next firing tries again
                logger.warning(
                    "Could not read the state of request %s (%s); the next firing tries again", event.get("RequestId"), error
                )
                return False
            if live is None:
                return False
            event = live
        self.budget.requested_at = responses.request_time(str(event.get("ResponseURL", ""))) or self._clock().now()
        if POLL not in event and not self._confirmed(event, context):
            return False
        if not cast(Any, super())._crhelper_init(event, context):
            return False
        if self._unconfirmable:  # no try is left: answer rather than let the stack wait until ServiceTimeout
            self._send("FAILED", self._unconfirmable)
            return False
        return True

    def recorded_properties(self) -> dict[str, Any] | None:
        """The request's properties as CloudFormation recorded them on the stack event that confirmed it: for a
        look whose rule could not keep them (too large for EventBridge's target input)."""
        episode = str(self.Data.get(EPISODE, ""))
        if not episode or self._context is None:
            return None
        check = CloudFormationCheck(self._cloudformation_of, self.budget, str(self._context.function_name))
        recorded = check.recorded_properties(self.StackId, self.LogicalResourceId, episode)
        expected = self.Data.get(PROPERTIES_DIGEST)
        if recorded is not None and expected and properties_digest(recorded) != expected:
            # CloudFormation records some values otherwise than it sends them (dynamic references): never act on those.
            raise ExportFailed(
                "The request's properties were too large to keep between looks (EventBridge's 8,192-character target "
                "input), and the ones CloudFormation recorded differ from those it sent (a dynamic reference?); nothing "
                "more was done: use fewer or shorter tags"
            )
        return recorded

    def _confirmed(self, event: dict[str, Any], context: Any) -> bool:
        """CloudFormation shows this request as one it sent and waits for (confirmation.py); else it is
        ignored. The confirming stack event's ID (the request's episode) goes into the state."""
        budget = Budget(self._clock(), self._invocation_end(context) - LAMBDA_SAFETY_SECONDS - LOOK_SECONDS)
        budget.requested_at = self.budget.requested_at
        check = CloudFormationCheck(self._cloudformation_of, budget, str(context.function_name))
        try:
            self._episode = check.confirm(event)
            self.deletes_a_replaced_id = check.replaced
        except Unconfirmed as why:
            logger.error(
                "Ignored %s request %s for %s in %s: CloudFormation does not confirm it (%s); nothing is changed or answered",
                event.get("RequestType"),
                event.get("RequestId"),
                event.get("LogicalResourceId"),
                event.get("StackId"),
                why,
            )
            return False
        except TransientError as error:  # throttled past this invocation's time: Lambda runs the event again
            if not self._lambda_may_run_it_again():
                # Lambda's last try: answer FAILED, acting on nothing. Only the sender of the request holds its
                # presigned URL, so a forged request gains nothing from this answer.
                self._unconfirmable = (
                    f"The request could not be confirmed with CloudFormation, whose read APIs stayed throttled ({error}); "
                    "nothing was changed: retry the stack operation"
                )
                return True
            logger.error(
                "Could not confirm request %s with CloudFormation yet (%s); Lambda retries", event.get("RequestId"), error
            )
            self.retry_later = True
            return False
        except Exception as error:  # denied or unexpected: it cannot be confirmed, so nothing is done
            logger.error(
                "Could not confirm request %s with CloudFormation (%s); it is not acted on", event.get("RequestId"), error
            )
            return False
        return True

    def _invocation_end(self, context: Any) -> float:
        return self._clock().now() + float(context.get_remaining_time_in_millis()) / 1000

    def _look_budget(self, context: Any) -> Budget:
        now = self._clock().now()
        return Budget(self._clock(), min(now + LOOK_SECONDS, self._invocation_end(context) - LAMBDA_SAFETY_SECONDS))

    def _lease(self, context: Any) -> dict[str, Any]:
        return {"owner": context.aws_request_id, "until": self._clock().now() + LEASE_SECONDS}

    def _live_event(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """The request's current state from its rule, with this invocation's lease; None to do nothing.

        Another invocation's lease means it is looking right now, maybe from before the change that
        triggered this invocation: wait (reading the rule only) until it releases the lease or the
        lease runs out, then look again. Giving up is safe: the schedule looks within the minute."""
        name = event[RULE].split("/")[-1]
        clock = self._clock()
        wait_until = self._invocation_end(context) - LAMBDA_SAFETY_SECONDS - LOOK_SECONDS
        waited = False
        while True:
            live = self._schedule().read(name)
            if live is None or live.get("RequestId") != event.get("RequestId"):
                logger.info("Rule %s no longer watches request %s (answered or superseded)", name, event["RequestId"])
                return None
            if (live.get(DATA) or {}).get(FINISHED):
                self._schedule().remove(name)
                return None
            lease = (live.get(DATA) or {}).get(LEASE) or {}
            now = clock.now()
            if lease.get("owner") in (None, context.aws_request_id) or float(lease.get("until", 0)) <= now:
                break
            if lease.get("looping") or now + LEASE_CHECK_SECONDS > wait_until:
                logger.info(
                    "Another invocation is working on request %s until %.0f; the next firing looks again",
                    event["RequestId"],
                    lease["until"],
                )
                return None
            if not waited:
                logger.info("Another invocation is looking at request %s; waiting for it to finish", event["RequestId"])
                self.lease_waits += 1
                waited = True
            clock.sleep(min(LEASE_CHECK_SECONDS, max(float(lease["until"]) - now, 0.001)))
        self.budget = self._look_budget(context)
        if unreadable_state(live.get(DATA) or {}):
            # Written by a newer handler: saving a lease would stamp it with this version. The look answers FAILED.
            logger.error("Rule %s holds state this handler cannot read: %s", name, unreadable_state(live.get(DATA) or {}))
            return live
        live.setdefault(DATA, {})[LEASE] = self._lease(context)
        self._schedule().save(name, live)
        return live

    def may_keep_looking(self, pause_seconds: float) -> bool:
        """Whether this invocation may pause and look once more (a Delete waiting for Forecast to finish a
        deletion): it stops where it would stop anyway, LAMBDA_SAFETY_SECONDS before its timeout. The look's
        budget and the lease grow with it; the lease is written back before it runs out."""
        if self._context is None or not (self._rule() or self._rule_less):
            return False
        now = self._clock().now()
        if now + pause_seconds + LOOK_STEP_SECONDS > self._invocation_end(self._context) - LAMBDA_SAFETY_SECONDS:
            return False
        self.budget.end = max(self.budget.end, now + pause_seconds + LOOK_STEP_SECONDS)
        lease = self.Data.get(LEASE) or {}
        if self._rule() and float(lease.get("until", 0)) < now + pause_seconds + LOOK_STEP_SECONDS:
            # "looping": this holder looks again within seconds, so an invocation that finds the lease leaves at once
            # instead of reading the rule every LEASE_CHECK_SECONDS (EventBridge's 50 requests/s are the account's).
            self.Data[LEASE] = {**self._lease(self._context), "looping": True}
            self._event[DATA] = self.Data
            try:
                self._schedule().save(self._rule(), self._event)
            except Exception as error:  # the next trigger looks again; stop here rather than outlive the lease
                logger.warning("Could not extend the lease on %s (%s); the next trigger looks again", self._rule(), error)
                return False
        return True

    # --- polling -------------------------------------------------------------------------------------

    def _done(self) -> bool:
        return bool(self.PhysicalResourceId) or self.Status == "FAILED"

    def _poll_func(self) -> Any:
        return getattr(self, f"_poll_{self._event['RequestType'].lower()}_func")

    def _rule(self) -> str:
        return str(self._event[RULE]).split("/")[-1] if RULE in self._event else ""

    def _polling_init(self, event: dict[str, Any]) -> None:
        """Claim (first invocation), look once, then answer or save the state for the next trigger."""
        try:
            if POLL not in self._event:
                if self.Status == "FAILED":  # invalid properties: answer before anything exists
                    self._finish()
                    return
                if self._needs_no_rule():
                    self._wrap_function(self._poll_func())
                    self._finish()
                    return
                try:
                    claimed = self._claim()
                except TransientError as error:
                    if not self._lambda_may_run_it_again():
                        raise
                    logger.warning("Could not claim the request's rule yet (%s); Lambda runs the request again", error)
                    self.retry_later = True  # nothing was done yet: a later delivery starts afresh
                    return
                except ClientError as error:
                    if error_code(error) != "LimitExceededException" or self.RequestType != "Delete":
                        raise
                    self._delete_without_a_rule(error)
                    return
                if not claimed:
                    return
                self._wrap_function(self._poll_func())
            elif ANSWER in self.Data:
                self._deliver(self.Data[ANSWER])
                return
            # (a firing's one look was made by crhelper's init, through the registered poll function)
            if self._done():
                self._finish()
            else:
                self._watch()
                self.Data.pop(LEASE, None)
                self._event[DATA] = self.Data
                self._schedule().save(self._rule(), self._event)
        except Exception as error:
            logger.error("Unexpected error: %s", error, exc_info=True)
            if self._rule():
                self._schedule().remove(self._rule())
            self._send("FAILED", f"The handler failed unexpectedly: {error}")

    @property
    def looking_without_a_rule(self) -> bool:
        """A Delete looking without a rule (a full event bus): it keeps looking within its invocation."""
        return self._rule_less

    def _delete_without_a_rule(self, error: ClientError) -> None:
        """The event bus holds its 300 rules (shared with the account): a Delete gets no rule, so it looks within
        this invocation (deleting, then waiting for the deletion), and Lambda runs it again while it has tries;
        the last try answers. A stack delete then succeeds on a full bus (issue 16, sequence 2)."""
        logger.warning("No room for a polling rule (%s): this Delete looks without one, within this invocation", error)
        self._rule_less = True
        self._wrap_function(self._poll_func())
        if self._done():
            self._finish()
        elif self._clock().now() - self.budget.requested_at < RULE_LESS_FIRST_TRY_SECONDS:
            self.retry_later = True  # the first try: Lambda's next one looks again, and answers whatever it finds
        else:
            state = self.Data.get("State") or {}
            left = ", ".join([*state.get("cleanup", []), *state.get("scan", [])]) or "its jobs"
            self._send(
                "FAILED",
                f"The event bus had no room for the Delete's polling rule ({error_code(error)}: EventBridge allows 300 rules "
                f"per bus, shared with the account) and {left} had not settled within two tries; retry the delete",
            )

    def _lambda_may_run_it_again(self) -> bool:
        """Lambda runs an invocation the handler fails again after about 1 and then 2 minutes (the function's
        MaximumRetryAttempts, 2): a request sent less than LAMBDA_RETRY_WINDOW_SECONDS ago has a try left."""
        if self._claiming is not None and self._claiming.took_over:
            return False  # it stopped another request's polling: a retry would not know that request's jobs
        return self._clock().now() - self.budget.requested_at < LAMBDA_RETRY_WINDOW_SECONDS

    def _may_take_over(self, held: dict[str, Any]) -> bool:
        """CloudFormation sends one request per resource at a time: a rule held by another request belongs
        to one it cancelled, unless that one is newer or a Delete (then this request is the stray one)."""
        if unreadable_state(held.get(DATA) or {}):
            return True  # a newer handler's request, whose code no longer runs: CloudFormation's request now is this one
        if self._episode and (held.get(DATA) or {}).get(EPISODE) == self._episode:
            return False  # one request of CloudFormation's claimed twice (a copy it did not send): the first keeps it
        theirs = (held.get(DATA) or {}).get("State") or {}
        mine = self.Data.get("State") or {}
        if theirs.get("op") == "Delete" and mine.get("op") != "Delete":
            return False
        return float(theirs.get("started_at", 0)) <= float(mine.get("started_at", 0))

    def _needs_no_rule(self) -> bool:
        """A Delete with no job to look at (RemovalPolicy Retain, a Create that made nothing) answers at once,
        without a rule: the account's 300 rules per event bus may all be taken by other tools. Only when no
        other request's rule of the same name is there to stop (that takes the claim)."""
        if self.RequestType != "Delete" or self._watched(self.Data):
            return False
        key = str(self.Data.get(CLAIM_KEY, ""))
        if not key:
            return True  # no properties to name a job by: no Create or Update ever claimed a rule of this name
        name = rule_name(self._rule_prefix_of(), self.StackId, self.LogicalResourceId, key)
        try:
            return self._schedule().read(name) is None
        except Exception as error:  # throttled: the claim retries
            logger.warning("Could not look for rule %s (%s); claiming it", name, error)
            return False

    def _claim(self) -> bool:
        # EventBridge's 50 requests/s are shared by every tool of the account: a claim throttled for tens of
        # seconds keeps trying while the invocation has time, not only for one look's budget.
        requested_at = self.budget.requested_at
        self.budget = Budget(self._clock(), self._invocation_end(self._context) - LAMBDA_SAFETY_SECONDS, requested_at)
        try:
            while True:
                try:
                    return self._try_claim()
                except TransientError as error:
                    if not self.budget.allows(RETRY_PAUSE_SECONDS):
                        raise
                    logger.warning("%s; trying again in %d s", error, RETRY_PAUSE_SECONDS)
                    self._clock().sleep(RETRY_PAUSE_SECONDS)
        finally:
            self.budget = self._look_budget(self._context)
            self.budget.requested_at = requested_at

    def _try_claim(self) -> bool:
        prefix = self._rule_prefix_of()
        schedule = self._claiming = self._schedule()
        other_key = self.Data.get(SUPERSEDE_KEY, "")
        if other_key:
            other = rule_name(prefix, self.StackId, self.LogicalResourceId, other_key)
            held = schedule.read(other)
            if held is not None and held.get("RequestId") != self.RequestId and self._may_take_over(held):
                logger.warning("Stopping the polling of request %s, which this rollback replaces", held.get("RequestId"))
                if not schedule.remove(other):
                    raise TransientError(f"could not remove the polling rule {other}")
                schedule.took_over = True
                self._on_superseded(dict(held.get(DATA) or {}))
            self.Data.pop(SUPERSEDE_KEY, None)
        name = rule_name(prefix, self.StackId, self.LogicalResourceId, self.Data.get(CLAIM_KEY, ""))
        self.Data.pop("PhysicalResourceId", None)
        self.Data[LEASE] = self._lease(self._context)
        watching = self._watched(self.Data)
        pattern = event_pattern(watching)
        self.Data[WATCHING] = watching if pattern else []
        self._event[DATA] = self.Data
        self.PhysicalResourceId = ""
        self.Data[EPISODE] = self._episode
        self.Data[PROPERTIES_DIGEST] = properties_digest(self._event.get("ResourceProperties"))
        claim = schedule.claim(name, self._event, self._may_take_over, pattern)
        if claim.duplicate:
            logger.warning("Request %s is already being handled (rule %s); this delivery stays silent", self.RequestId, name)
            return False
        if claim.stale:
            logger.warning(
                "A newer request (or a Delete) owns rule %s: request %s was cancelled; it does nothing", name, self.RequestId
            )
            return False
        if claim.superseded:
            self._on_superseded(claim.superseded)
        self.Data["PollEpoch"] = self._clock().now()
        return True

    def _watch(self) -> None:
        """Point the rule's EventPattern at the jobs the request watches now, if they changed."""
        watching = self._watched(self.Data)
        if watching == self.Data.get(WATCHING, []):
            return
        self._schedule().put_rule(self._rule(), self._event, event_pattern(watching))
        self.Data[WATCHING] = watching
        logger.info("Rule %s now fires on the events of %s", self._rule(), ", ".join(watching) or "no job")

    # --- answering ------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """The request's PollState fields, or none when another version of the handler wrote them."""
        return {} if unreadable_state(self.Data) else dict(self.Data.get("State") or {})

    def _body(self) -> dict[str, Any]:
        state = self._state()
        if self.Status == "SUCCESS":
            physical = str(self.PhysicalResourceId)
        else:
            # A failed Create names its job only if it made one: the rollback Delete then looks at exactly that.
            made = state.get("physical_id") if state.get("made_job") or state.get("op") != "Create" else ""
            physical = self._event.get("PhysicalResourceId") or made or f"{self.LogicalResourceId[:200]}{NOT_CREATED_SUFFIX}"
        return {
            "Status": self.Status,
            "Reason": self._reason() if self.Status == "FAILED" else "",
            "PhysicalResourceId": str(physical),
            "StackId": self.StackId,
            "RequestId": self.RequestId,
            "LogicalResourceId": self.LogicalResourceId,
            "NoEcho": self.NoEcho,
            "Data": {k: v for k, v in self.Data.items() if k in PUBLIC_DATA_KEYS} if self.Status == "SUCCESS" else {},
        }

    def _reason(self) -> str:
        """The failure, and where its logs are (as the CDK provider framework does)."""
        logs = f" (handler logs: {self._context.log_group_name})" if self._context is not None else ""
        reason = str(self.Reason)
        return reason if reason.endswith(logs) else responses.shorten(reason, 900) + logs

    def _finish(self) -> None:
        self._deliver(responses.fit_response(self._body()))

    def _deliver(self, body: dict[str, Any]) -> None:
        """Remove the rule, then send the answer; when the URL fails for now, keep the answer in a rule
        for a later firing. (The rule goes first: after a stack's last answer CloudFormation deletes the
        handler's role, and a rule left for later could no longer be removed.)"""
        answer_by = float(self.Data.get(ANSWER_BY, 0) or self._state().get("answer_by", 0))
        if self._rule() and self._remove_rule_while_time_allows():
            self._event.pop(RULE, None)
        if self._rule() and self._may_be_last_answer(body) and self._clock().now() < answer_by:
            # After a Delete's answer, or a failed Create's (a first deploy rolls back), CloudFormation may
            # delete the handler's role: a rule still there then stays forever, firing at a deleted function.
            # Keep the answer in the rule and try removing it again at the next firing.
            logger.warning("Rule %s could not be removed yet; the answer waits for the next firing", self._rule())
            self._keep_answer(body, answer_by)
            return
        delivered = self._send_body(body)
        if delivered or self._clock().now() >= answer_by:
            if self._rule():  # could not be removed: later firings only try to remove it again
                self._event[DATA] = {FINISHED: True}
                self._try_save()
            return
        if not self._rule() and not self._schedule_retry():
            return
        logger.warning("The answer could not be delivered yet; trying again at the next firing of %s", self._rule())
        self._keep_answer(body, answer_by)

    def _may_be_last_answer(self, body: dict[str, Any]) -> bool:
        return self.RequestType == "Delete" or (self.RequestType == "Create" and body.get("Status") == "FAILED")

    def _keep_answer(self, body: dict[str, Any], answer_by: float) -> None:
        self.Data = {ANSWER: body, ANSWER_BY: answer_by, "PollEpoch": self.Data.get("PollEpoch", self._clock().now())}
        self._event[DATA] = self.Data
        self._event.pop("ResourceProperties", None)
        self._try_save()

    def _remove_rule_while_time_allows(self) -> bool:
        """Remove the rule, trying again while EventBridge throttles or fails partially, keeping time to answer."""
        while not self._schedule().remove(self._rule()):
            if not self.budget.allows(RETRY_PAUSE_SECONDS + ANSWER_RESERVE_SECONDS):
                return False
            self._clock().sleep(RETRY_PAUSE_SECONDS)
        return True

    def _try_save(self) -> None:
        try:
            self._schedule().save(self._rule(), self._event)
        except Exception as error:
            logger.error("Could not save the state of rule %s: %s", self._rule(), error)

    def _schedule_retry(self) -> bool:
        """A request answered without a rule gets one now, so that a later firing can retry the answer."""
        try:
            name = rule_name(self._rule_prefix_of(), self.StackId, self.LogicalResourceId, str(self.Data.get(CLAIM_KEY, "")))
            self.Data.pop(LEASE, None)
            self._event[DATA] = self.Data
            claim = self._schedule().claim(name, self._event, lambda held: True)
            return not claim.duplicate
        except Exception as error:  # nothing more can be done: CloudFormation will time the resource out
            logger.error("Could not keep the answer for a retry: %s", error)
            return False

    def _send_body(self, body: dict[str, Any]) -> bool:
        if not self._response_url:
            logger.error("No request to answer in this invocation")
            return True
        if self._answered:
            logger.warning("An answer was already sent in this invocation for request %s", self.RequestId)
            return True
        self._answered = True
        time_left = self._context.get_remaining_time_in_millis() / 1000 - 2 if self._context else 10.0
        result = responses.send(self._response_url, body, self._clock(), time_left)
        if result is None:  # refused for good (4xx): retrying cannot help
            return True
        return result

    def _send(self, status: str | None = None, reason: str = "", send_response: Any = None) -> None:
        """crhelper's path to answer (init failure, unexpected exception): one fitted answer."""
        if status:
            self.Status, self.Reason = status, reason
        self._send_body(responses.fit_response(self._body()))

    def _timeout(self) -> None:
        if self._rule():
            logger.error("The Lambda is about to time out; the next firing of %s carries on", self._rule())
            return
        logger.error("The Lambda is about to time out before the request could be scheduled; answering FAILED")
        self._send("FAILED", "The handler ran out of time before the request finished (Lambda timeout)")
