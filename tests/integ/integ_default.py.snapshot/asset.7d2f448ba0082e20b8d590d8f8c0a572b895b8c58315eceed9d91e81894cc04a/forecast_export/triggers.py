"""What an invocation was triggered by, and the looks it leads to.

Four triggers besides CloudFormation's requests, all made with the handler (docs/DESIGN-durable-state.md):

- the Tick rule (``rate(1 minute)``, constant input): the requests due for a look are read from the table's
  ``due`` index, and each gets a look of its own: this function invokes itself asynchronously, so one slow
  look never delays the others and Lambda's queue absorbs a burst (more than ``LOOKS_PER_HELPER`` due: the tick
  hands them out in batches to helper invocations, ``{"Requests": [[slot, RequestId], ...]}``, that ask for the looks);
- a look (that self-invocation): names the slot and the request; the state comes from the table, never
  from the event, so a forged look can only make a request look at its jobs once more;
- the ForecastEvents rule: Forecast's export-job state-change events, for any job of the account; the
  slots watching the job (``JOB#`` items) are looked at, the first within this invocation;
- a polling rule of a previous release (rule-based state, 0.2.x): its input is the request's whole state,
  which moves into the table; that request carries on from there.

Anything else answers nobody (a console test event, a mis-targeted rule).
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from . import contract
from .clock import Clock
from .errors import TransientError
from .retries import Budget, call_with_retries
from .schedule import PASSING_STATUSES, POLL, RULE, STATUS_FIELDS
from .store import Store

logger = logging.getLogger(__name__)

SAFETY_SECONDS = 30  # stop fanning out this long before the Lambda's timeout
TICK_FAN_OUT_MAX = 2000  # looks asked for by one tick; the rest wait for the next (logged)
# A tick with more requests due than this hands them to helper invocations in batches of this size, each of which
# asks for their looks. Why: each lambda:Invoke takes tens of milliseconds up to 0.2 s, so one tick asking for 1,000
# looks one by one takes up to 200 s: past its 60 s budget (the rest wait a minute more, over issue 16's 2-minute
# bound) and, within it, the last look starts a minute after the first. In two levels, 1,000 due requests take
# 100 + 10 Invokes on the longest path (docs/scale.md). Also the most one look event may ask for: a forged batch
# costs at most this many looks.
LOOKS_PER_HELPER = 10
# The Tick looks itself at the first request due only with a look's budget (resource.LOOK_SECONDS) left within its
# own budget, which already keeps SAFETY_SECONDS before the Lambda timeout; otherwise that look gets an invocation
# of its own like the others.
INLINE_LOOK_SECONDS = 30
ARN_FIELDS = ("ForecastExportJobArn", "ResourceArn")
LEGACY_TARGET_ID = "1"  # the target the rule-based releases gave their polling rules


class Trigger(enum.Enum):
    REQUEST = "request"
    TICK = "tick"
    LOOK = "look"
    FORECAST = "forecast"
    LEGACY = "legacy"
    FOREIGN = "foreign"


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, dict) else {}


def _job_arns(event: dict[str, Any]) -> list[str]:
    detail = _detail(event)
    found = [str(a) for a in event.get("resources") or [] if isinstance(a, str)]
    found += [str(detail[field]) for field in ARN_FIELDS if isinstance(detail.get(field), str)]
    return [a for a in dict.fromkeys(found) if ":forecast-export-job/" in a]


def _passing(event: dict[str, Any]) -> bool:
    """A status on the way to another one: no wait of the handler ends on it."""
    detail = _detail(event)
    return any(detail.get(field) in PASSING_STATUSES for field in STATUS_FIELDS)


class Triggers:
    def __init__(
        self,
        store_of: Callable[[Budget], Store],
        lambda_of: Callable[[], Any],
        events_of: Callable[[], Any],
        clock_of: Callable[[], Clock],
        still_waited_for: Callable[[dict[str, Any], Any], bool] = lambda event, context: True,
    ) -> None:
        self._store_of = store_of
        self._lambda_of = lambda_of
        self._events_of = events_of
        self._clock_of = clock_of
        self._still_waited_for = still_waited_for

    @staticmethod
    def kind(event: Any) -> Trigger:
        if not isinstance(event, dict):
            return Trigger.FOREIGN
        if event.get(contract.TRIGGER_KEY) == contract.TICK:
            return Trigger.TICK
        if event.get(contract.TRIGGER_KEY) == contract.LOOK:
            return Trigger.LOOK
        if event.get("source") == "aws.forecast" and event.get("detail-type") in contract.FORECAST_DETAIL_TYPES:
            return Trigger.FORECAST
        if event.get(POLL) and ":rule/" in str(event.get(RULE, "")):
            return Trigger.LEGACY
        if POLL in event or contract.TRIGGER_KEY in event:
            return Trigger.FOREIGN  # state or a trigger this handler did not write: never acted on
        return Trigger.REQUEST

    def _budget(self, context: Any) -> Budget:
        clock = self._clock_of()
        remaining = float(context.get_remaining_time_in_millis()) / 1000
        # A function whose timeout was cut below SAFETY_SECONDS (an escape hatch) still fans out: half its time.
        return Budget(clock, clock.now() + remaining - min(SAFETY_SECONDS, remaining / 2))

    def run(self, trigger: Trigger, event: Any, context: Any, look: Callable[[dict[str, Any], Any], None]) -> None:
        """Carry out a trigger other than CloudFormation's request; ``look`` looks at one request's stored event."""
        try:
            if trigger is Trigger.TICK:
                self._tick(context, look)
            elif trigger is Trigger.LOOK and "Requests" in event:
                self._hand_out(event["Requests"], context)
            elif trigger is Trigger.LOOK:
                self._look_at(str(event.get("Slot", "")), str(event.get("RequestId", "")), context, look)
            elif trigger is Trigger.FORECAST:
                self._forecast_event(event, context, look)
            elif trigger is Trigger.LEGACY:
                self._take_over_legacy(event, context)
            else:
                logger.warning(
                    "Ignored an invocation that is neither CloudFormation's nor one of its triggers; nothing is answered"
                )
        except (TransientError, ClientError) as error:  # the next tick looks again
            logger.warning("The %s invocation stopped early (%s); the next tick carries on", trigger.value, error)

    def _tick(self, context: Any, look: Callable[[dict[str, Any], Any], None]) -> None:
        """Every request due gets a look: the first within this invocation (with one export in flight, a Tick costs
        no second invocation), each other one in an invocation of its own, asked for first so that none waits for
        the inline look."""
        budget = self._budget(context)
        store = self._store_of(budget)
        due = list(store.due(TICK_FAN_OUT_MAX))
        inline, rest = due[:1], due[1:]
        asked = 0
        if len(rest) <= LOOKS_PER_HELPER:
            for slot, request_id, due_at in rest:
                if not budget.allows(1.0):
                    break
                asked += self._ask(store, context, slot, request_id, due_at, budget)
        else:
            for start in range(0, len(rest), LOOKS_PER_HELPER):
                if not budget.allows(1.0):
                    break
                batch = [list(entry) for entry in rest[start : start + LOOKS_PER_HELPER]]
                self._invoke(context, {contract.TRIGGER_KEY: contract.LOOK, "Requests": batch}, budget)
                asked += len(batch)
        if asked:
            logger.info("Asked for %d looks at requests due", asked)
        if asked + 1 >= TICK_FAN_OUT_MAX:
            logger.warning("More than %d requests were due: the rest wait for the next tick", TICK_FAN_OUT_MAX)
        for slot, request_id, due_at in inline:
            if not budget.allows(INLINE_LOOK_SECONDS):
                self._ask(store, context, slot, request_id, due_at, budget)  # too little time left: its own invocation
            else:  # no take_due: the look's lease moves due_at itself, one write fewer per minute and request
                self._look_at(slot, request_id, context, look)

    def _hand_out(self, requests: Any, context: Any) -> None:
        """A helper invocation of the tick: a look for each (slot, RequestId, due_at) of its batch that is still due
        as the index said (at most LOOKS_PER_HELPER; anything else in the event is ignored: a forged batch can only
        cause looks at requests really due)."""
        budget = self._budget(context)
        store = self._store_of(budget)
        entries = [r for r in requests if isinstance(r, list) and len(r) == 3] if isinstance(requests, list) else []
        for slot, request_id, due_at in entries[:LOOKS_PER_HELPER]:
            if not budget.allows(1.0):
                break
            self._ask(store, context, str(slot), str(request_id), str(due_at), budget)

    def _ask(self, store: Store, context: Any, slot: str, request_id: str, due_at: str, budget: Budget) -> int:
        """Take one due look and ask for it (1), or leave it (0). An error is this entry's alone: the others are still
        asked for, and this one is found again by a later Tick (its due_at moved a period at most)."""
        try:
            if not store.take_due(slot, request_id, due_at):
                return 0
            self._invoke_self(context, slot, request_id, budget)
        except (TransientError, ClientError) as error:
            logger.warning("Could not ask for a look at request %s now (%s); a later Tick does", request_id, error)
            return 0
        return 1

    def _invoke_self(self, context: Any, slot: str, request_id: str, budget: Budget) -> None:
        self._invoke(context, {contract.TRIGGER_KEY: contract.LOOK, "Slot": slot, "RequestId": request_id}, budget)

    def _invoke(self, context: Any, event: dict[str, Any], budget: Budget) -> None:
        payload = json.dumps(event)
        client = self._lambda_of()
        call_with_retries(
            "lambda:Invoke",
            lambda: client.invoke(FunctionName=str(context.invoked_function_arn), InvocationType="Event", Payload=payload),
            budget,
        )

    def _look_at(self, slot: str, request_id: str, context: Any, look: Callable[[dict[str, Any], Any], None]) -> None:
        stored = self._store_of(self._budget(context)).read(slot) if slot else None
        if stored is None or stored.get("RequestId") != request_id:
            logger.info("Slot %s no longer holds request %s: nothing to look at", slot, request_id)
            return
        look(stored, context)

    def _forecast_event(self, event: dict[str, Any], context: Any, look: Callable[[dict[str, Any], Any], None]) -> None:
        if _passing(event):
            return
        budget = self._budget(context)
        store = self._store_of(budget)
        slots = [slot for arn in _job_arns(event) for slot in store.watchers(arn)]
        for index, slot in enumerate(dict.fromkeys(slots)):
            stored = store.read(slot)
            if stored is None:
                continue
            if index == 0:
                look(stored, context)
            else:  # each look has its own invocation's time
                self._invoke_self(context, slot, str(stored.get("RequestId", "")), budget)

    def _take_over_legacy(self, event: dict[str, Any], context: Any) -> None:
        """A request in flight when the handler's code changed from a release that kept state in rules: its rule's
        input is its whole state. It moves into the table (once: the slot's claim is conditional); its looks come
        from the Tick rule from now on. The handler may not delete rules any more, so the rule is named in the log."""
        rule = str(event[RULE]).split("/")[-1]
        budget = self._budget(context)
        store = self._store_of(budget)
        # The state is read from the rule itself (read-only), never taken from the event: whoever may invoke the
        # function must not be able to plant a request's state.
        events = self._events_of()
        try:
            targets = call_with_retries("events:ListTargetsByRule", lambda: events.list_targets_by_rule(Rule=rule), budget)
        except ClientError as error:
            logger.warning("Could not read polling rule %s of a previous release (%s)", rule, error)
            return
        held = [t for t in targets.get("Targets", []) if t.get("Id") == LEGACY_TARGET_ID and t.get("Input")]
        if not held:
            return
        moved = dict(json.loads(held[0]["Input"]))
        if moved.get("RequestId") != event.get("RequestId"):
            return
        moved[RULE] = rule
        data = moved.get("CrHelperData") or {}
        lease = data.pop("Lease", None) or {}
        if float(lease.get("until", 0)) > self._clock_of().now():
            # A previous release's invocation is working on it right now (it ran on past the code change): two
            # handlers must never act on one request at once. The rule fires again within the minute.
            logger.info("Request %s is leased by a previous release's invocation; taken over later", event.get("RequestId"))
            return
        if data.get("Finished"):
            claim = None  # answered already; only its rule is left
        elif not self._still_waited_for(moved, context):
            # CloudFormation moved on: that release answered (and could not remove its rule: the new role has no
            # events write action), or the request was cancelled or timed out. Adopting it would act and answer twice.
            claim = None
        else:
            claim = store.claim(rule, moved, lambda held: False, list(data.get("Watching", [])))
        if claim is not None and not (claim.duplicate or claim.stale):
            logger.warning("Request %s moved from polling rule %s into the state table", event.get("RequestId"), rule)
        logger.warning(
            "Polling rule %s of a previous release still fires at this function; delete it (aws events remove-targets "
            "--rule %s --ids 1; aws events delete-rule --name %s): this handler no longer manages rules",
            rule,
            rule,
            rule,
        )
