"""Request state in the handler's DynamoDB table (one table per handler, made by the construct).

Items (``contract``'s key names; docs/DESIGN-durable-state.md):

- ``SLOT#<slot>`` / ``state``: the live request of one resource and settings (the slot's name follows from
  the stack, the logical ID and the settings that name the job: ``schedule.rule_name``). It holds the
  request's event with its state (``CrHelperData``) as JSON, a ``version`` every write checks and
  increments, and, while the request is in flight, ``due_shard``/``due_at``: the sparse ``due`` index the
  Tick rule reads once a minute. So a request that must stop another one (a rollback after a cancellation)
  finds it by computing the slot, reads its state, and takes the slot over with one conditional write.
- ``REQ#<RequestId>`` / ``request``: written with the claim, in the same transaction; it stays
  ``RECORD_DAYS`` after the request's last possible answer, so a copy of a request delivered later finds
  it and does nothing.
- ``JOB#<job ARN>`` / ``<slot>``: the slots watching a job, for Forecast's state-change events.

Every write that changes a slot is conditional (on its absence, or on the version read), so two
invocations can never both act on one request: the loser gets ``LostSlot`` and does nothing more.
Every read checks ``expires_at`` itself: TTL deletes expired items in the background, days late.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import contract
from .errors import TransientError
from .retries import Budget, call_with_retries, error_code

logger = logging.getLogger(__name__)

LOOK_PERIOD_SECONDS = 60  # a request in flight is due for a look this long after its last one
# A Tick fires at any second of its minute (eb-scheduled-rule-pattern), so two Ticks can come up to 2 minutes apart.
# Each asks for looks at the requests due within this margin too: a request due a period after the look a Tick
# asked for is found by the next Tick, even one a minute later to the second, and a request due is looked at within
# 2 minutes whenever the Tick's delivery and the look's queueing together take less than this.
TICK_LOOKAHEAD_SECONDS = 10
ITEM_MAX_BYTES = 400 * 1024  # DynamoDB's item size limit (service-quotas page, "Item size")
STATE_MAX_CHARACTERS = 350_000  # room for the other attributes of the slot item
DUE_SHARD = "due"
DATA = "CrHelperData"  # crhelper's keys in the event it stores
VERSION = "StoreVersion"  # top-level key of a stored event: the slot's version when it was read
JOINED = "Joined"  # other deliveries of the same CloudFormation request (same stack event), answered too
JOINS_MAX = 3  # a shared provider's other teams may invoke the function: a handful of copies, never more
RESPONSE_URL_MAX = 2048  # CloudFormation's presigned URLs are well under this
RECORD_SECONDS = contract.RECORD_DAYS * 86400
# Longest a request can wait for its answer: CloudFormation's ServiceTimeout (at most one hour), and the time
# Lambda may keep the request in its queue before the first look.
LONGEST_REQUEST_SECONDS = 3600 + contract.MAX_EVENT_AGE_SECONDS
_PK, _SK, _TTL = contract.TABLE_PARTITION_KEY, contract.TABLE_SORT_KEY, contract.TABLE_TTL_ATTRIBUTE


class LostSlot(RuntimeError):
    """The slot changed since this invocation read it (another invocation of the request, or a request that
    supersedes it, wrote first): this invocation must not write or answer anything more for it."""


@dataclass
class Claim:
    """What ``claim`` found: a duplicate delivery of this very request, or another request's state it stopped."""

    duplicate: bool = False
    stale: bool = False  # a newer request (or a Delete) holds the slot: this one must do nothing
    superseded: dict[str, Any] | None = None  # the stopped request's Data


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}".rstrip("0").rstrip(".")}


def _joined(item: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"RequestId": entry["M"]["RequestId"]["S"], "ResponseURL": entry["M"]["ResponseURL"]["S"]}
        for entry in item.get("joined", {}).get("L", [])
    ]


def _token(writes: list[dict[str, Any]]) -> str:
    """One claim's idempotency token (at most 36 characters): a hash of the very transaction, so a token always means
    the same parameters (only a retry of this exact claim after a lost reply reuses it)."""
    return hashlib.sha256(json.dumps(writes, sort_keys=True).encode()).hexdigest()[:36]


def state_text(event: dict[str, Any]) -> str:
    """The event as the slot keeps it, its state stamped with this handler's state version (no old properties:
    only the first invocation reads them)."""
    kept = {k: v for k, v in event.items() if k not in ("OldResourceProperties", VERSION, JOINED)}
    kept[DATA] = {**(kept.get(DATA) or {}), contract.STATE_VERSION_KEY: contract.STATE_VERSION}
    text = json.dumps(kept, separators=(",", ":"))
    if len(text) > STATE_MAX_CHARACTERS:
        raise RuntimeError(f"The request's state is {len(text)} characters; the table keeps at most {STATE_MAX_CHARACTERS}")
    return text


class Store:
    """The table, as one invocation sees it: every call retried within ``budget`` (retries.py)."""

    def __init__(self, client: Any, table: str, budget: Budget) -> None:
        self._client = client
        self._table = table
        self._budget = budget
        self._clock = budget.clock
        self.took_over = False  # this claim stopped another request (its state lives only in memory now)
        self.removed_joined: list[dict[str, str]] = []  # the deliveries joined to the slot ``remove`` removed

    def _call(self, operation: str, **kwargs: Any) -> Any:
        method = getattr(self._client, operation)
        return call_with_retries(f"dynamodb:{operation}", lambda: method(**kwargs), self._budget)

    @staticmethod
    def _slot_key(slot: str) -> dict[str, Any]:
        return {_PK: _s(f"SLOT#{slot}"), _SK: _s("state")}

    def _live(self, item: dict[str, Any] | None) -> dict[str, Any] | None:
        if not item or float(item.get(_TTL, {}).get("N", "inf")) <= self._clock.now():
            return None  # absent, or expired and not yet removed by TTL
        return item

    # --- slots ------------------------------------------------------------------------------------------

    def read(self, slot: str) -> dict[str, Any] | None:
        """The event the slot holds now (with its version under ``VERSION``), or None when it holds none."""
        item = self._live(
            self._call("get_item", TableName=self._table, Key=self._slot_key(slot), ConsistentRead=True).get("Item")
        )
        if item is None:
            return None
        event = dict(json.loads(item["state"]["S"]))
        event[VERSION] = int(item["version"]["N"])
        event[JOINED] = _joined(item)
        return event

    def join(self, slot: str, holder: str, request_id: str, response_url: str) -> bool:
        """Add another delivery of the request ``holder`` holds in ``slot`` to those its answer goes to. Its own
        attribute, not the versioned state: a look in progress is not disturbed. False if the slot holds another
        request now, or has its JOINS_MAX."""
        if len(response_url) > RESPONSE_URL_MAX:
            return False
        entry = {"M": {"RequestId": _s(request_id), "ResponseURL": _s(response_url)}}
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._slot_key(slot),
                UpdateExpression="SET joined = list_append(if_not_exists(joined, :none), :entry)",
                ConditionExpression="request_id = :holder AND (attribute_not_exists(joined) OR size(joined) < :max)",
                ExpressionAttributeValues={
                    ":none": {"L": []},
                    ":entry": {"L": [entry]},
                    ":holder": _s(holder),
                    ":max": _n(JOINS_MAX),
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def claim(
        self,
        slot: str,
        event: dict[str, Any],
        may_take_over: Callable[[dict[str, Any]], bool],
        watching: list[str],
        *,
        record: bool = True,
    ) -> Claim:
        """Put the request into ``slot`` (stopping, and reporting, an older request held there), with its record
        (``record``: the dedupe of later copies) and its watched jobs, in one transaction."""
        held = self.read(slot)
        if held is not None and held.get("RequestId") == event["RequestId"]:
            return Claim(duplicate=True)
        if held is not None and not may_take_over(held):
            return Claim(stale=True)
        if held is not None:
            logger.warning("Request %s takes over from request %s: its looks stop", event["RequestId"], held["RequestId"])
        expires = self._clock.now() + LONGEST_REQUEST_SECONDS + RECORD_SECONDS
        event[VERSION] = 0
        writes: list[dict[str, Any]] = [{"Put": self._slot_put(slot, event, expires, held)}]
        if record:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            _PK: _s(f"REQ#{event['RequestId']}"),
                            _SK: _s("request"),
                            "slot": _s(slot),
                            _TTL: _n(expires),
                        },
                        "ConditionExpression": "attribute_not_exists(#pk)",
                        "ExpressionAttributeNames": {"#pk": _PK},
                    }
                }
            )
        old_jobs = [a for a in ((held or {}).get(DATA) or {}).get("Watching", []) if a not in watching]
        writes += [{"Put": self._job_put(arn, slot, expires)} for arn in watching]
        writes += [{"Delete": {"TableName": self._table, "Key": self._job_key(arn, slot)}} for arn in old_jobs]
        try:
            # The token makes a retry after a lost reply (the first try committed) succeed instead of meeting the
            # record it wrote itself: DynamoDB keeps it 10 minutes (TransactWriteItems, ClientRequestToken).
            self._call("transact_write_items", TransactItems=writes[:100], ClientRequestToken=_token(writes[:100]))
        except ClientError as error:
            if error_code(error) == "IdempotentParameterMismatchException":  # not expected: the token hashes the writes
                now_held = self.read(slot)
                if now_held is not None and now_held.get("RequestId") == event["RequestId"]:
                    return Claim(duplicate=True)
                raise TransientError(f"the claim of {slot} met a reused token; trying again") from error
            if error_code(error) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "") for r in error.response.get("CancellationReasons", [])]
            if record and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                logger.warning(
                    "Request %s was handled before (its record exists); this delivery stays silent", event["RequestId"]
                )
                return Claim(duplicate=True)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                now_held = self.read(slot)  # someone wrote first: this very request, or another one
                same = now_held is not None and now_held.get("RequestId") == event["RequestId"]
                return Claim(duplicate=same, stale=not same)
            raise TransientError(f"the claim of {slot} was cancelled ({', '.join(reasons)}); trying again") from error
        event[VERSION] = 1
        if held is not None:
            self.took_over = True
        return Claim(superseded=dict(held.get(DATA) or {}) if held is not None else None)

    def _slot_put(self, slot: str, event: dict[str, Any], expires: float, held: dict[str, Any] | None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                **self._slot_key(slot),
                "request_id": _s(str(event["RequestId"])),
                "state": _s(state_text(event)),
                "version": _n(1),
                contract.DUE_SHARD_ATTRIBUTE: _s(DUE_SHARD),
                contract.DUE_AT_ATTRIBUTE: _n(self._clock.now() + LOOK_PERIOD_SECONDS),
                _TTL: _n(expires),
            },
            "ExpressionAttributeNames": {"#pk": _PK},
        }
        if held is None:
            put["ConditionExpression"] = "attribute_not_exists(#pk)"
        else:
            put["ConditionExpression"] = "version = :seen"
            put["ExpressionAttributeValues"] = {":seen": _n(held[VERSION])}
            put["ConditionExpression"] += " AND attribute_exists(#pk)"
        return put

    def save(self, slot: str, event: dict[str, Any], *, due_at: float | None = None) -> None:
        """Write the request's state back, if nobody wrote since this invocation read it (``LostSlot`` if
        someone did). It is due for a look ``LOOK_PERIOD_SECONDS`` from now, unless ``due_at`` says otherwise."""
        seen = int(event.get(VERSION, 0))
        due = due_at if due_at is not None else self._clock.now() + LOOK_PERIOD_SECONDS
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._slot_key(slot),
                UpdateExpression="SET #state = :state, version = :next, #shard = :shard, #due = :due",
                ConditionExpression="version = :seen AND request_id = :rid",
                ExpressionAttributeNames={
                    "#state": "state",
                    "#shard": contract.DUE_SHARD_ATTRIBUTE,
                    "#due": contract.DUE_AT_ATTRIBUTE,
                },
                ExpressionAttributeValues={
                    ":state": _s(state_text(event)),
                    ":next": _n(seen + 1),
                    ":seen": _n(seen),
                    ":rid": _s(str(event["RequestId"])),
                    ":shard": _s(DUE_SHARD),
                    ":due": _n(due),
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise LostSlot(f"slot {slot} changed since request {event['RequestId']} read it") from error
            raise
        event[VERSION] = seen + 1

    def remove(self, slot: str, request_id: str, watching: list[str], *, quiet: bool = False) -> bool:
        """Remove the request's slot (only if it still holds this request) and its job pointers; the record
        stays. False if the slot could not be removed for now."""
        try:
            old = self._call(
                "delete_item",
                TableName=self._table,
                Key=self._slot_key(slot),
                ConditionExpression="request_id = :rid",
                ExpressionAttributeValues={":rid": _s(request_id)},
                ReturnValues="ALL_OLD",
            )
            self.removed_joined = _joined(old.get("Attributes") or {})  # joined up to the moment it went
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return True  # another request holds the slot now (and its job pointers, under the same keys)
            if error_code(error) == "ResourceNotFoundException":
                return True  # the table is gone: CloudFormation deleted the handler's stack after its last answer
            logger.error("Could not remove slot %s: %s", slot, error)
            return False
        except TransientError as error:
            logger.error("Could not remove slot %s: %s", slot, error)
            return False
        self.unwatch(slot, watching)  # best effort: a pointer left behind only costs a look, and TTL removes it
        if not quiet:
            logger.info("Removed slot %s", slot)
        return True

    # --- jobs watched ------------------------------------------------------------------------------------

    @staticmethod
    def _job_key(arn: str, slot: str) -> dict[str, Any]:
        return {_PK: _s(f"JOB#{arn}"), _SK: _s(slot)}

    def _job_put(self, arn: str, slot: str, expires: float) -> dict[str, Any]:
        return {"TableName": self._table, "Item": {**self._job_key(arn, slot), _TTL: _n(expires)}}

    def watch(self, slot: str, added: list[str]) -> None:
        expires = self._clock.now() + LONGEST_REQUEST_SECONDS + RECORD_SECONDS
        for arn in added:
            self._call("put_item", **self._job_put(arn, slot, expires))

    def unwatch(self, slot: str, removed: list[str]) -> bool:
        try:
            for arn in removed:
                self._call("delete_item", TableName=self._table, Key=self._job_key(arn, slot))
        except (ClientError, TransientError) as error:
            logger.error("Could not remove the job pointers of slot %s: %s", slot, error)
            return False
        return True

    def watchers(self, job_arn: str) -> list[str]:
        """The slots watching ``job_arn``."""
        answer = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": _PK},
            ExpressionAttributeValues={":pk": _s(f"JOB#{job_arn}")},
            ConsistentRead=True,
        )
        return [item[_SK]["S"] for item in answer.get("Items", []) if self._live(item)]

    # --- due requests ------------------------------------------------------------------------------------

    def take_due(self, slot: str, request_id: str, due_at: str) -> bool:
        """Move a due request's next look a period ahead, if nobody moved it since the index said ``due_at``: the Tick
        asks for one look per due request, and a look waiting in Lambda's queue (concurrency throttled) is not asked
        for again every minute. Its own attribute only: the request's state and version are untouched."""
        try:
            self._call(
                "update_item",
                TableName=self._table,
                Key=self._slot_key(slot),
                UpdateExpression="SET #due = :next",
                ConditionExpression="#due = :seen AND request_id = :request",
                ExpressionAttributeNames={"#due": contract.DUE_AT_ATTRIBUTE},
                ExpressionAttributeValues={
                    ":next": _n(self._clock.now() + LOOK_PERIOD_SECONDS),
                    ":seen": {"N": due_at},
                    ":request": _s(request_id),
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False  # looked at, answered or taken over since the index was read
            raise
        return True

    def due(self, limit: int) -> Iterator[tuple[str, str, str]]:
        """(slot, RequestId, due_at as stored) of up to ``limit`` requests due for a look (or due within
        TICK_LOOKAHEAD_SECONDS), most overdue first."""
        start: dict[str, Any] | None = None
        count = 0
        while count < limit:
            arguments: dict[str, Any] = {
                "TableName": self._table,
                "IndexName": contract.DUE_INDEX,
                "KeyConditionExpression": "#shard = :shard AND #due <= :now",
                "ExpressionAttributeNames": {"#shard": contract.DUE_SHARD_ATTRIBUTE, "#due": contract.DUE_AT_ATTRIBUTE},
                "ExpressionAttributeValues": {":shard": _s(DUE_SHARD), ":now": _n(self._clock.now() + TICK_LOOKAHEAD_SECONDS)},
                "Limit": min(limit - count, 500),
            }
            if start:
                arguments["ExclusiveStartKey"] = start
            page = self._call("query", **arguments)
            for item in page.get("Items", []):
                count += 1
                slot, due_at = item[_PK]["S"].removeprefix("SLOT#"), item[contract.DUE_AT_ATTRIBUTE]["N"]
                yield slot, item.get("request_id", {}).get("S", ""), due_at
            start = page.get("LastEvaluatedKey")
            if not start:
                return
