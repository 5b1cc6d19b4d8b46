"""crhelper's CfnResource, orchestrating one request across invocations (crhelper itself is not forked).

crhelper keeps what it is good at: the create/update/delete/poll decorators, logging, turning an
exception into FAILED. This subclass replaces its polling (the request's state lives in the handler's
DynamoDB table, store.py) and its answering (responses.py):

- First invocation: the request is confirmed with CloudFormation (confirmation.py), the registered
  create/update/delete function plans it without any AWS call, and the request claims its slot in the
  table *before* it touches Forecast (one conditional transaction, with its record), so a later request
  that supersedes it (after a cancellation) always finds and stops it.
- Every invocation makes ONE short look at the jobs, whatever triggered it: CloudFormation, a Forecast
  state-change event for a job the request watches (the template's ForecastEvents rule; the answer goes
  out within seconds of the change), or a look the template's Tick rule asks for when the request is due
  (the safety net for lost events). No invocation polls or sleeps, except to wait for the lease another
  invocation holds, or for a deletion Forecast announces with no event.
- Exactly one answer per request, at most 4096 bytes, sent to every delivery of CloudFormation's request
  (a copy that confirmed with the same stack event joins the first). An answer that cannot be delivered
  (the response URL failing) is kept in the slot and sent again at later looks until CloudFormation's
  ServiceTimeout.
- Nothing outlives the request but its record: any error after the claim removes the slot; a look that
  finds its request superseded, answered or past its deadline does nothing.

The crhelper internals overridden here are listed in CRHELPER_OVERRIDES; a test checks each still
exists in the pinned crhelper.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from crhelper import CfnResource

from . import contract, responses
from .clock import Clock
from .confirmation import CloudFormationCheck, Unconfirmed
from .errors import TransientError
from .retries import Budget
from .schedule import LEASE, POLL, RULE, rule_name, unreadable_state
from .store import DATA, JOINED, VERSION, LostSlot, Store

logger = logging.getLogger(__name__)

# crhelper's own __call__ and _crhelper_init run unchanged (``prepare`` runs before them); these are replaced or used.
CRHELPER_OVERRIDES = ("_polling_init", "_send", "_timeout", "_wrap_function", "_event", "_context")
PUBLIC_DATA_KEYS = contract.ATTRIBUTES
NOT_CREATED_SUFFIX = "-not-created"  # physical ID of a Create that failed before planning a job
WATCHING = "Watching"  # Data key: the job ARNs whose Forecast events trigger a look (the slot's JOB items)
CLAIM_KEY = "ClaimKey"  # Data key: the settings key the request's slot is named after
SUPERSEDE_KEY = "SupersedeKey"  # Data key: the settings key of a rolled-back request whose looks must stop
ANSWER = "Answer"  # Data key: an answer waiting to be delivered
EPISODE = "Episode"  # Data key: the stack event that confirmed the request (one per request CloudFormation sends)
ANSWER_BY = "AnswerBy"  # Data key: after this, nobody waits for the answer any more
FINISHED = "Finished"  # Data key: answered; the slot could not be removed yet
RETRY_PAUSE_SECONDS = 5  # between tries to claim or remove the slot while DynamoDB throttles
AFTER_ANSWER_SECONDS = 2  # removing the slot of an answered request: one try (its retries are later looks')
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
LEASE_CHECK_SECONDS = 0.5  # how often an invocation waiting for the lease reads the slot (reads only)
DEFAULT_RULE_PREFIX = contract.RULE_PREFIX_ROOT


_REQUEST_TYPES = ("Create", "Update", "Delete")
_REQUEST_FIELDS = ("StackId", "RequestId", "LogicalResourceId", "ResourceType")


def not_a_request(event: Any) -> str:
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


def _unique(joined: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({str(j.get("RequestId")): j for j in joined}.values())


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
        store_of: Callable[[Budget], Store],
        cloudformation_of: Callable[[], Any],
    ) -> None:
        super().__init__(json_logging=True, log_level="INFO", boto_level="WARNING", polling_interval=1, sleep_on_delete=0)
        self._clock_of = clock_of
        self._rule_prefix_of = rule_prefix_of
        self._store_of = store_of
        self._cloudformation_of = cloudformation_of
        self._answered = False
        self._on_superseded: Callable[[dict[str, Any]], None] = lambda data: None
        self._watched: Callable[[dict[str, Any]], list[str]] = lambda data: []
        self.budget = Budget(clock_of())
        self.lease_waits = 0  # invocations of this container that waited for another one's look
        self.retry_later = False  # the request could not be confirmed yet: the entry point asks Lambda to retry
        self._claiming: Store | None = None  # the store of this invocation's claim
        self._kept = False
        self._episode = ""  # the stack event that confirmed this request (confirmation.py)
        self.deletes_a_replaced_id = False  # a Delete of a physical ID the resource no longer holds
        self._unconfirmable = ""  # why a request that Lambda will not run again could not be confirmed

    def superseded(self, func: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        """Register what to do with the state of a request this one stopped (decorator, like crhelper's)."""
        self._on_superseded = func
        return func

    def watched(self, func: Callable[[dict[str, Any]], list[str]]) -> Callable[[dict[str, Any]], list[str]]:
        """Register which job ARNs (most important first) the request watches, from the Data."""
        self._watched = func
        return func

    # --- per invocation -----------------------------------------------------------------------------

    def begin_invocation(self, event: Any) -> bool:
        """Forget the previous request this warm container handled, then say whether ``event`` is a request
        of CloudFormation's (or its stored state, for a look) at all.

        crhelper keeps the last request's response URL and IDs on the object and, when an event fails
        before its own init (a console test event, a mis-targeted rule), answers FAILED to that last
        request: on a shared provider, another team's deploy. So the state goes before crhelper sees the
        event, and an event that is not CloudFormation's is never passed on: nothing is answered for it."""
        self._answered = False
        self.retry_later = False
        self._claiming = None
        self._kept = False  # the request's state is in its slot (a look, or a claim that returned): a later look carries on
        self._episode = ""
        self._unconfirmable = ""
        self.deletes_a_replaced_id = False
        self._event, self._response_url, self.Data, self._context = {}, "", {}, None
        self.Status = self.Reason = self.PhysicalResourceId = self.StackId = self.RequestId = self.LogicalResourceId = ""
        problem = not_a_request(event)
        if problem:
            logger.warning("Ignored an invocation that is not a CloudFormation request (%s); nothing is answered", problem)
        return not problem

    def _clock(self) -> Clock:
        return self._clock_of()

    def _store(self) -> Store:
        return self._store_of(self.budget)

    def prepare(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """What crhelper is given for ``event`` (after ``begin_invocation``), or None when nothing is to be done.

        A look's event becomes the request's live state, read from its slot with this invocation's lease. A
        CloudFormation request must be confirmed by CloudFormation first (confirmation.py); one that cannot
        be confirmed on Lambda's last try is answered FAILED here, acting on nothing."""
        self._context = context
        self.budget = self._look_budget(context)
        self._kept = POLL in event
        if POLL in event and getattr(self, "_init_failed", None):
            return None  # crhelper would answer FAILED while the slot stays leased: a healthy container looks later
        if POLL in event:
            try:
                live = self._live_event(event, context)
            except Exception as error:  # throttled or denied: the next look tries again
                logger.warning(
                    "Could not read the state of request %s (%s); the next look tries again", event.get("RequestId"), error
                )
                return None
            if live is None:
                return None
            event = live
        self.budget.requested_at = responses.request_time(str(event.get("ResponseURL", ""))) or self._clock().now()
        if POLL not in event and not self._confirmed(event, context):
            return None
        if self._unconfirmable:  # no try is left: answer rather than let the stack wait until ServiceTimeout
            self._event, self._response_url, self.Data = event, str(event["ResponseURL"]), {}
            self.StackId, self.RequestId = str(event["StackId"]), str(event["RequestId"])
            self.LogicalResourceId, self.RequestType = str(event["LogicalResourceId"]), str(event["RequestType"])
            self._send("FAILED", self._unconfirmable)
            return None
        return event

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
        """The request's current state from its slot, with this invocation's lease; None to do nothing.

        Another invocation's lease means it is looking right now, maybe from before the change that
        triggered this invocation: wait (reading the slot only) until it releases the lease or the
        lease runs out, then look again. Giving up is safe: the Tick rule asks for a look within minutes."""
        slot = str(event[RULE])
        clock = self._clock()
        wait_until = self._invocation_end(context) - LAMBDA_SAFETY_SECONDS - LOOK_SECONDS
        waited = False
        fresh = event if VERSION in event else None  # a look's trigger has just read the slot (ConsistentRead)
        while True:
            live, fresh = (fresh or self._store().read(slot)), None
            if live is None or live.get("RequestId") != event.get("RequestId"):
                logger.info("Slot %s no longer holds request %s (answered or superseded)", slot, event["RequestId"])
                return None
            data = live.get(DATA) or {}
            if data.get(FINISHED):
                self._store().remove(slot, str(live["RequestId"]), list(data.get(WATCHING, [])))
                return None
            lease = data.get(LEASE) or {}
            now = clock.now()
            if lease.get("owner") in (None, context.aws_request_id) or float(lease.get("until", 0)) <= now:
                if unreadable_state(data):
                    # Written by a newer handler: saving a lease would stamp it with this version. The look answers FAILED.
                    logger.error("Slot %s holds state this handler cannot read: %s", slot, unreadable_state(data))
                    break
                live.setdefault(DATA, {})[LEASE] = self._lease(context)
                try:
                    self._store().save(slot, live, due_at=now + LEASE_SECONDS)
                except LostSlot:
                    continue  # another invocation wrote first: read again
                break
            if lease.get("looping") or now + LEASE_CHECK_SECONDS > wait_until:
                logger.info(
                    "Another invocation is working on request %s until %.0f; a later look carries on",
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
        return live

    def may_keep_looking(self, pause_seconds: float) -> bool:
        """Whether this invocation may pause and look once more (a Delete waiting for Forecast to finish a
        deletion): it stops where it would stop anyway, LAMBDA_SAFETY_SECONDS before its timeout. The look's
        budget and the lease grow with it; the lease is written back before it runs out."""
        if self._context is None or not self._slot():
            return False
        now = self._clock().now()
        if now + pause_seconds + LOOK_STEP_SECONDS > self._invocation_end(self._context) - LAMBDA_SAFETY_SECONDS:
            return False
        self.budget.end = max(self.budget.end, now + pause_seconds + LOOK_STEP_SECONDS)
        lease = self.Data.get(LEASE) or {}
        if float(lease.get("until", 0)) < now + pause_seconds + LOOK_STEP_SECONDS:
            # "looping": this holder looks again within seconds, so an invocation that finds the lease leaves at once
            # instead of reading the slot every LEASE_CHECK_SECONDS.
            self.Data[LEASE] = {**self._lease(self._context), "looping": True}
            self._event[DATA] = self.Data
            try:
                self._store().save(self._slot(), self._event, due_at=now + LEASE_SECONDS)
            except (LostSlot, TransientError, ClientError) as error:  # the next trigger looks again
                logger.warning("Could not extend the lease on %s (%s); the next trigger looks again", self._slot(), error)
                return False
        return True

    # --- polling -------------------------------------------------------------------------------------

    def _done(self) -> bool:
        return bool(self.PhysicalResourceId) or self.Status == "FAILED"

    def _poll_func(self) -> Any:
        return getattr(self, f"_poll_{self._event['RequestType'].lower()}_func")

    def _slot(self) -> str:
        return str(self._event.get(RULE, ""))

    def _polling_init(self, event: dict[str, Any]) -> None:
        """Claim (first invocation), look once, then answer or save the state for the next trigger."""
        try:
            if POLL not in self._event:
                if self.Status == "FAILED":  # invalid properties: answer before anything exists
                    self._finish()
                    return
                try:
                    claimed = self._claim()
                except TransientError as error:
                    if not self._lambda_may_run_it_again():
                        raise
                    logger.warning("Could not claim the request's slot yet (%s); Lambda runs the request again", error)
                    self.retry_later = True  # nothing was done yet: a later delivery starts afresh
                    return
                if not claimed:
                    return
                self._wrap_function(self._poll_func())
            elif ANSWER in self.Data:
                self._deliver(self.Data[ANSWER])
                return
            # (a look's one look was made by crhelper's init, through the registered poll function)
            if self._done():
                self._finish()
            else:
                self._watch()
                self.Data.pop(LEASE, None)
                self._event[DATA] = self.Data
                self._save_while_time_allows()
        except LostSlot as lost:
            logger.warning("%s: another invocation carries the request on; this one stops", lost)
        except Exception as error:
            logger.error("Unexpected error: %s", error, exc_info=True)
            self.Status, self.Reason = "FAILED", f"The handler failed unexpectedly: {error}"
            if self._kept and self._slot():
                self._finish()  # the slot goes first; if it cannot yet, the answer waits in it (one answer, never two)
            else:
                self._send()

    def _lambda_may_run_it_again(self) -> bool:
        """Lambda runs an invocation the handler fails again after about 1 and then 2 minutes (the function's
        MaximumRetryAttempts, 2): a request sent less than LAMBDA_RETRY_WINDOW_SECONDS ago has a try left."""
        if self._claiming is not None and self._claiming.took_over:
            return False  # it stopped another request's looks: a retry would not know that request's jobs
        return self._clock().now() - self.budget.requested_at < LAMBDA_RETRY_WINDOW_SECONDS

    def _may_take_over(self, held: dict[str, Any]) -> bool:
        """CloudFormation sends one request per resource at a time: a slot held by another request belongs
        to one it cancelled, unless that one is newer or a Delete (then this request is the stray one)."""
        if unreadable_state(held.get(DATA) or {}):
            return True  # a newer handler's request, whose code no longer runs: CloudFormation's request now is this one
        if self._episode and (held.get(DATA) or {}).get(EPISODE) == self._episode:
            return False  # one request of CloudFormation's delivered twice (a copy it did not send): the first keeps it
        theirs = (held.get(DATA) or {}).get("State") or {}
        mine = self.Data.get("State") or {}
        if theirs.get("op") == "Delete" and mine.get("op") != "Delete":
            return False
        return float(theirs.get("started_at", 0)) <= float(mine.get("started_at", 0))

    def _claim(self) -> bool:
        # DynamoDB's throttling (a hot partition) keeps the claim trying while the invocation has time, not only
        # for one look's budget.
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
        store = self._claiming = self._store()
        other_key = self.Data.get(SUPERSEDE_KEY, "")
        if other_key:
            other = rule_name(prefix, self.StackId, self.LogicalResourceId, other_key)
            held = store.read(other)
            if held is not None and held.get("RequestId") != self.RequestId and self._may_take_over(held):
                logger.warning("Stopping the looks of request %s, which this rollback replaces", held.get("RequestId"))
                theirs = held.get(DATA) or {}
                if not store.remove(other, str(held["RequestId"]), list(theirs.get(WATCHING, []))):
                    raise TransientError(f"could not remove the slot {other}")
                store.took_over = True
                self._on_superseded(dict(theirs))
            self.Data.pop(SUPERSEDE_KEY, None)
        slot = rule_name(prefix, self.StackId, self.LogicalResourceId, self.Data.get(CLAIM_KEY, ""))
        self.Data.pop("PhysicalResourceId", None)
        self.Data[LEASE] = self._lease(self._context)
        watching = self._watched(self.Data)
        self.Data[WATCHING] = watching
        self.Data[EPISODE] = self._episode
        self._event[DATA] = self.Data
        self._event[POLL] = True
        self._event[RULE] = slot
        self.PhysicalResourceId = ""
        if self._joins(store, slot):
            return False
        claim = store.claim(slot, self._event, self._may_take_over, watching)
        self._kept = True
        if claim.duplicate:
            logger.warning("Request %s is already being handled (slot %s); this delivery stays silent", self.RequestId, slot)
            return False
        if claim.stale:
            logger.warning(
                "A newer request (or a Delete) holds slot %s: request %s was cancelled; it does nothing", slot, self.RequestId
            )
            return False
        if claim.superseded:
            self._on_superseded(claim.superseded)
        self.Data["PollEpoch"] = self._clock().now()
        return True

    def _joins(self, store: Store, slot: str) -> bool:
        """Another delivery of this very CloudFormation request (the same stack event, so the same properties) holds
        the slot under another RequestId: this one joins it and is answered with it, rather than stay silent (the
        first one may be a replay whose answer CloudFormation never reads). At most JOINS_MAX join (store.py)."""
        if not self._episode:
            return False
        held = store.read(slot)
        theirs = (held or {}).get(DATA) or {}
        if held is None or held.get("RequestId") == self.RequestId or theirs.get(EPISODE) != self._episode:
            return False
        if any(j.get("RequestId") == self.RequestId for j in held.get(JOINED, [])):
            self._kept = True
            return True
        if store.join(slot, str(held["RequestId"]), self.RequestId, self._response_url):
            self._kept = True  # the request is in the slot it joined: a later look answers it
            logger.warning(
                "Request %s joins request %s (one stack event): both get its answer", self.RequestId, held["RequestId"]
            )
            return True
        # Refused: the slot was removed (answered) or taken since it was read, or it has its JOINS_MAX. This delivery
        # then claims the slot itself (the claim decides), rather than stay silent.
        logger.warning("Request %s could not join request %s; it claims the slot itself", self.RequestId, held["RequestId"])
        return False

    def _watch(self) -> None:
        """Point the slot's job items at the jobs the request watches now, if they changed."""
        watching = self._watched(self.Data)
        before = list(self.Data.get(WATCHING, []))
        if watching == before:
            return
        store = self._store()
        try:
            store.watch(self._slot(), [a for a in watching if a not in before])
            store.unwatch(self._slot(), [a for a in before if a not in watching])
        except (TransientError, ClientError) as error:  # the Tick rule's looks cover the jobs meanwhile
            logger.warning("Could not update the jobs slot %s watches (%s); the next look tries again", self._slot(), error)
            return
        self.Data[WATCHING] = watching
        logger.info("Slot %s now watches the events of %s", self._slot(), ", ".join(watching) or "no job")

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
        """Keep the answer in the slot, send it (joined deliveries first), then remove the slot; when the URL fails for
        now, the answer waits in the slot for a later look. (Kept first: an invocation killed after sending and before
        the slot goes leaves the same answer to be sent again at the next look, never none, and the request's record
        keeps every copy of the request silent.)"""
        answer_by = float(self.Data.get(ANSWER_BY, 0) or self._state().get("answer_by", 0))
        joined = _unique([*self.Data.get(JOINED, []), *self._event.get(JOINED, [])])
        if self._slot() and ANSWER not in self.Data:
            self._keep_answer(body, answer_by, joined, lease=self.Data.get(LEASE))  # still this look's until it ends
        for other in joined:  # first: the holder's URL may be a replay's that never answers (it must not starve these)
            responses.send(str(other["ResponseURL"]), {**body, "RequestId": other["RequestId"]}, self._clock(), 10.0)
        delivered = self._send_body(body)
        if not delivered and self._clock().now() < answer_by:
            if not self._slot() and not self._keep_for_retry():
                return
            logger.warning("The answer could not be delivered yet; trying again at the next look at %s", self._slot())
            self._keep_answer(body, answer_by, joined)
            return
        # One short try: after a stack's last answer CloudFormation deletes the handler's role and table, and a call
        # denied then must not be retried as IAM still propagating (the request's answer is out already).
        store = self._store_of(Budget(self._clock(), self._clock().now() + AFTER_ANSWER_SECONDS))
        if self._slot() and not self._remove_slot(store):
            logger.warning("Slot %s could not be removed yet; later looks only remove it", self._slot())
            self._event[DATA] = {FINISHED: True, WATCHING: self.Data.get(WATCHING, [])}
            try:
                store.save(self._slot(), self._event)
            except Exception as error:
                logger.error("Could not mark slot %s finished: %s", self._slot(), error)
        answered = {str(j.get("RequestId")) for j in joined}
        for other in store.removed_joined:  # joined while this answer was on its way
            if str(other.get("RequestId")) not in answered:
                responses.send(str(other["ResponseURL"]), {**body, "RequestId": other["RequestId"]}, self._clock(), 10.0)

    def _keep_answer(
        self, body: dict[str, Any], answer_by: float, joined: list[dict[str, Any]], lease: dict[str, Any] | None = None
    ) -> None:
        self.Data = {
            ANSWER: body,
            ANSWER_BY: answer_by,
            JOINED: joined,
            WATCHING: self.Data.get(WATCHING, []),
            "PollEpoch": self.Data.get("PollEpoch", self._clock().now()),
            **({LEASE: lease} if lease else {}),
        }
        self._event[DATA] = self.Data
        self._event.pop("ResourceProperties", None)
        self._try_save()

    def _remove_slot(self, store: Store | None = None) -> bool:
        return (store or self._store()).remove(self._slot(), self.RequestId, list(self.Data.get(WATCHING, [])))

    def _save_while_time_allows(self) -> None:
        """Save the state after a look, trying again while DynamoDB throttles for the invocation's time (not only the
        look's budget). Throttled longer, the state stays as last saved: its lease runs out and the next look starts
        from it (a throttled table only delays a request; it never answers FAILED for it)."""
        look_budget = self.budget
        self.budget = Budget(self._clock(), self._invocation_end(self._context) - LAMBDA_SAFETY_SECONDS, look_budget.requested_at)
        try:
            while True:
                try:
                    self._store().save(self._slot(), self._event)
                    return
                except TransientError as error:
                    if not self.budget.allows(RETRY_PAUSE_SECONDS):
                        logger.warning("Could not save the state of %s (%s); the next look carries on", self._slot(), error)
                        return
                    self._clock().sleep(RETRY_PAUSE_SECONDS)
        finally:
            self.budget = look_budget

    def _try_save(self) -> None:
        try:
            self._store().save(self._slot(), self._event)
        except Exception as error:
            logger.error("Could not save the state of slot %s: %s", self._slot(), error)

    def _keep_for_retry(self) -> bool:
        """An answer the URL refused for now, its slot already removed: the slot is claimed again (the request's
        record exists already) so that a later look can retry the answer."""
        try:
            slot = self._slot() or rule_name(
                self._rule_prefix_of(), self.StackId, self.LogicalResourceId, str(self.Data.get(CLAIM_KEY, ""))
            )
            self._event[RULE] = slot
            self._event[POLL] = True
            self.Data.pop(LEASE, None)
            self.Data[WATCHING] = []
            self._event[DATA] = self.Data
            claim = self._store().claim(slot, self._event, lambda held: True, [], record=False)
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
        # The slot's name and POLL are set before the claim is written: only a claim that returned means a look follows.
        if self._kept and self._slot():
            logger.error("The Lambda is about to time out; the next look at %s carries on", self._slot())
            return
        logger.error("The Lambda is about to time out before the request could be kept; answering FAILED")
        self._send("FAILED", "The handler ran out of time before the request finished (Lambda timeout)")
