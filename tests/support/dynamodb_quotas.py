"""DynamoDB's limits as the test bed applies them to the handler's calls (on by default).

- **Item size**: 400 KB, attribute names and values together
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-items).
  moto refuses items past 405,000 bytes (its own margin: slightly harsher); the bed checks 409,600 first with
  DynamoDB's ``ValidationException`` "Item size has exceeded the maximum allowed size", for a PutItem, an
  UpdateItem's key and values or a transaction's action (an update that grows a stored item is left to moto).
- **TransactWriteItems**: at most 100 actions per call
  (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html); moto refuses
  more itself, the bed checks first so the message names the limit.
- **Throughput per partition**: "each partition on the table can serve up to 3,000 read request units or
  1,000 write request units, or a linear combination of both", on-demand tables too
  (https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb,
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html). One write
  unit per 1 KB written, one read unit per 4 KB read strongly consistent, half for eventually consistent
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/capacity-mode.html#HowItWorks.requests).
  The bed keys a partition by (table or index, partition key value): every item of one key value lives in one
  partition, so a hot key is what a small table can throttle. Beyond it DynamoDB answers
  ``ProvisionedThroughputExceededException`` with the throttling reason ``TableWriteKeyRangeThroughputExceeded``
  (or ...Read..., Index...) (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/troubleshooting-throttling-diagnostics.html).
  Modelled as a token bucket per partition on the virtual clock holding one second of the rate (AWS keeps up
  to 300 s of unused capacity as burst: the bed is harsher). Units are estimated from the request before the
  call: a PutItem's item size, an UpdateItem's or DeleteItem's key and values (at least one unit), one read
  unit per GetItem or Query page (the item sizes are known only after the read). A write that puts or sets a
  global secondary index's partition key also spends that index partition's write units (every in-flight item
  with ``due_shard = "due"`` shares one index partition).

Knobs (per test; ``reset`` restores the defaults): ``item_size_max``, ``transact_items_max``,
``write_units_per_partition``, ``read_units_per_partition``, ``enabled``. Refusals are logged in ``refusals``.
Faults on single operations go through ``LocalCloud.throttle("dynamodb:PutItem", ...)``/``inject(...)``.

Test support code: never shipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from math import ceil
from typing import Any

from .virtual_clock import VirtualClock

ITEM_SIZE_MAX = 400 * 1024  # ServiceQuotas.html#limits-items
TRANSACT_ITEMS_MAX = 100  # API_TransactWriteItems.html
WRITE_UNITS_PER_PARTITION = 1000.0  # on-demand-table-throttling-dynamodb
READ_UNITS_PER_PARTITION = 3000.0
WRITE_UNIT_BYTES = 1024  # capacity-mode.html: one write unit per 1 KB
READ_UNIT_BYTES = 4 * 1024  # one strongly consistent read unit per 4 KB
BUCKET_SECONDS = 1.0
WRITES = ("PutItem", "UpdateItem", "DeleteItem")
READS = ("GetItem", "Query")


def attribute_size(value: Any) -> int:
    """The bytes DynamoDB counts for one attribute value (typed JSON, as boto3's client sends it)."""
    if not isinstance(value, dict) or len(value) != 1:
        return len(json.dumps(value, default=str))
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return len(str(inner).lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(inner) if isinstance(inner, bytes) else len(str(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    return len(json.dumps(inner, default=str))


def item_size(item: dict[str, Any]) -> int:
    """Attribute names plus values (ServiceQuotas.html#limits-items)."""
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def _update_size(params: dict[str, Any]) -> int:
    """What an UpdateItem/DeleteItem writes at least: its key and the values it sets."""
    values = params.get("ExpressionAttributeValues") or {}
    return item_size(params.get("Key") or {}) + sum(attribute_size(v) for v in values.values())


@dataclass
class Bucket:
    tokens: float
    last: float


@dataclass
class DynamoDBQuotas:
    clock: VirtualClock
    enabled: bool = True
    item_size_max: int = ITEM_SIZE_MAX
    transact_items_max: int = TRANSACT_ITEMS_MAX
    write_units_per_partition: float = WRITE_UNITS_PER_PARTITION
    read_units_per_partition: float = READ_UNITS_PER_PARTITION
    refusals: list[str] = field(default_factory=list)
    consumed: dict[str, float] = field(default_factory=dict)  # "table|key" -> units spent (reads and writes)
    units: dict[str, float] = field(default_factory=dict)  # "read" / "write" -> request units spent (what is billed)
    _buckets: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)

    def reset(self) -> None:
        self.enabled = True
        self.item_size_max = ITEM_SIZE_MAX
        self.transact_items_max = TRANSACT_ITEMS_MAX
        self.write_units_per_partition = WRITE_UNITS_PER_PARTITION
        self.read_units_per_partition = READ_UNITS_PER_PARTITION
        self.refusals.clear()
        self.consumed.clear()
        self.units.clear()
        self._buckets.clear()

    def _take(self, partition: tuple[str, str, str], units: float, now: float) -> bool:
        """Spend ``units`` from the partition's bucket ("read" or "write", table or index, key value)."""
        rate = self.write_units_per_partition if partition[0] == "write" else self.read_units_per_partition
        capacity = rate * BUCKET_SECONDS
        bucket = self._buckets.setdefault(partition, Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + rate * max(now - bucket.last, 0.0))
        bucket.last = now
        if bucket.tokens < min(units, capacity):
            return False
        bucket.tokens -= units
        key = f"{partition[1]}|{partition[2]}"
        self.consumed[key] = self.consumed.get(key, 0.0) + units
        self.units[partition[0]] = self.units.get(partition[0], 0.0) + units
        return True

    def _too_large(self, operation: str, size: int, now: float) -> tuple[str, str, int]:
        self.refusals.append(f"t={now:.1f} {operation}: item of {size} bytes")
        return (
            "ValidationException",
            f"Item size has exceeded the maximum allowed size ({size} > {self.item_size_max} bytes)",
            400,
        )

    def _throttled(self, operation: str, partition: tuple[str, str, str], now: float) -> tuple[str, str, int]:
        kind, resource, key = partition
        reason = f"{'Index' if '/index/' in resource else 'Table'}{kind.title()}KeyRangeThroughputExceeded"
        self.refusals.append(f"t={now:.1f} {operation} on {resource} key {key}: {reason}")
        return (
            "ProvisionedThroughputExceededException",
            f"The level of configured provisioned throughput for the table was exceeded ({reason})",
            400,
        )

    def refuse(
        self, operation: str, params: dict[str, Any], now: float, key_schemas: dict[str, Any]
    ) -> tuple[str, str, int] | None:
        """The error (code, message, HTTP status) DynamoDB answers this call with, or None to let it through.
        ``key_schemas``: table name -> {"": hash key name, "<index>": hash key name} of the tables in moto."""
        service, _, name = operation.partition(":")
        if service != "dynamodb" or not self.enabled:
            return None
        if name == "TransactWriteItems":
            items = params.get("TransactItems") or []
            if len(items) > self.transact_items_max:
                self.refusals.append(f"t={now:.1f} TransactWriteItems of {len(items)} actions")
                message = f"Member must have length less than or equal to {self.transact_items_max}"
                return "ValidationException", f"1 validation error detected: Value at 'transactItems' failed: {message}", 400
            actions = [(kind, body) for item in items for kind, body in item.items()]
            for kind, body in actions:
                size = item_size(body.get("Item") or {}) if kind == "Put" else _update_size(body)
                if size > self.item_size_max:
                    return self._too_large(operation, size, now)
            for kind, body in actions:  # each action writes its own partition (twice the units: transactions)
                if kind == "ConditionCheck":
                    continue
                size = item_size(body.get("Item") or {}) if kind == "Put" else _update_size(body)
                partition = self._partition("write", body, key_schemas)
                if partition and not self._take(partition, 2 * max(1, ceil(size / WRITE_UNIT_BYTES)), now):
                    return self._throttled(operation, partition, now)
            return None
        if name in WRITES:
            size = item_size(params.get("Item") or {}) if name == "PutItem" else _update_size(params)
            if size > self.item_size_max:
                return self._too_large(operation, size, now)
            units = max(1, ceil(size / WRITE_UNIT_BYTES))
            for partition in [self._partition("write", params, key_schemas), *self._index_writes(params, key_schemas)]:
                if partition and not self._take(partition, units, now):
                    return self._throttled(operation, partition, now)
        elif name in READS:
            partition = self._partition("read", params, key_schemas)
            units = 1.0 if params.get("ConsistentRead") else 0.5
            if partition and not self._take(partition, units, now):
                return self._throttled(operation, partition, now)
        return None

    @staticmethod
    def _index_writes(params: dict[str, Any], key_schemas: dict[str, Any]) -> list[tuple[str, str, str]]:
        """The index partitions a write also writes: a global secondary index whose partition key the item
        carries (PutItem) or the update sets (``SET <key> = :v``) is written too, and throttles as its own
        partition (IndexWriteKeyRangeThroughputExceeded, troubleshooting-throttling-diagnostics.html)."""
        table = str(params.get("TableName", ""))
        schema = key_schemas.get(table) or {}
        names = dict(params.get("ExpressionAttributeNames") or {})
        values = params.get("ExpressionAttributeValues") or {}
        sets = {
            names.get(m[1], m[1]): values.get(m[2])
            for m in re.finditer(r"([#\w]+)\s*=\s*(:\w+)", str(params.get("UpdateExpression", "")))
        }
        found = []
        for index, hash_key in schema.items():
            if not index:
                continue
            value = (params.get("Item") or {}).get(hash_key, sets.get(hash_key))
            if value is not None:
                found.append(("write", f"{table}/index/{index}", json.dumps(value, sort_keys=True)))
        return found

    @staticmethod
    def _partition(kind: str, params: dict[str, Any], key_schemas: dict[str, Any]) -> tuple[str, str, str] | None:
        """(kind, table or table/index/<name>, partition key value) the call reads or writes."""
        table = str(params.get("TableName", ""))
        schema = key_schemas.get(table)
        if schema is None:
            return None
        index = str(params.get("IndexName", ""))
        hash_key = schema.get(index)
        if hash_key is None:
            return None
        resource = f"{table}/index/{index}" if index else table
        source = params.get("Item") or params.get("Key")
        if source and hash_key in source:
            return kind, resource, json.dumps(source[hash_key], sort_keys=True)
        # Query: the partition key's value from the key condition (":v" bound to it).
        condition = str(params.get("KeyConditionExpression", ""))
        names = dict(params.get("ExpressionAttributeNames") or {})
        for match in re.finditer(r"([#\w]+)\s*=\s*(:\w+)", condition):
            attribute = names.get(match[1], match[1])
            if attribute == hash_key:
                value = (params.get("ExpressionAttributeValues") or {}).get(match[2])
                return kind, resource, json.dumps(value, sort_keys=True)
        return None
