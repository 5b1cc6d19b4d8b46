"""The request state table (lambda/forecast_export/store.py) against moto's DynamoDB server, with real boto3.

moto serves DynamoDB's conditional writes and TransactWriteItems cancellations, which is what these tests
are about: two writers of one slot, a copy of an answered request, the due index the Tick rule reads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cdk_forecast_export._lambda.forecast_export import contract
from cdk_forecast_export._lambda.forecast_export.retries import Budget
from cdk_forecast_export._lambda.forecast_export.store import (
    DATA,
    LOOK_PERIOD_SECONDS,
    TICK_LOOKAHEAD_SECONDS,
    VERSION,
    LostSlot,
    Store,
)


class SteppedClock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{host}:{port}",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        yield client
    finally:
        server.stop()


@pytest.fixture
def table(dynamodb: Any, request: pytest.FixtureRequest) -> str:
    """A table shaped as the construct makes it (keys, the sparse due index)."""
    name = f"state-{request.node.name[:40]}-{os.getpid()}"
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": contract.TABLE_PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": contract.TABLE_SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": contract.TABLE_PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": contract.TABLE_SORT_KEY, "AttributeType": "S"},
            {"AttributeName": contract.DUE_SHARD_ATTRIBUTE, "AttributeType": "S"},
            {"AttributeName": contract.DUE_AT_ATTRIBUTE, "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": contract.DUE_INDEX,
                "KeySchema": [
                    {"AttributeName": contract.DUE_SHARD_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": contract.DUE_AT_ATTRIBUTE, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(contract.DUE_INDEX_PROJECTED)},
            }
        ],
    )
    return name


def _store(dynamodb: Any, table: str, clock: SteppedClock) -> Store:
    return Store(dynamodb, table, Budget(clock, clock.now() + 30))


def _request(request_id: str, started_at: float = 0.0, op: str = "Create") -> dict[str, Any]:
    return {
        "RequestId": request_id,
        "RequestType": op,
        "StackId": "arn:aws:cloudformation:eu-west-1:111111111111:stack/s/1",
        "LogicalResourceId": "Export",
        "ResponseURL": "https://example.invalid/answer",
        DATA: {"State": {"op": op, "started_at": started_at}, "Watching": []},
    }


def test_a_claim_is_one_conditional_transaction_and_a_copy_of_the_request_stays_silent(dynamodb: Any, table: str) -> None:
    clock = SteppedClock()
    store = _store(dynamodb, table, clock)
    first = _request("r-1")
    claim = store.claim("slot-a", first, lambda held: True, ["arn:aws:forecast:eu-west-1:111111111111:forecast-export-job/f/j"])
    assert not (claim.duplicate or claim.stale or claim.superseded)
    assert store.read("slot-a")["RequestId"] == "r-1"
    assert store.watchers("arn:aws:forecast:eu-west-1:111111111111:forecast-export-job/f/j") == ["slot-a"]
    # Lambda delivers the request twice: the second delivery finds it in the slot.
    assert store.claim("slot-a", _request("r-1"), lambda held: True, []).duplicate
    # After the answer the slot is gone, but the request's record stays: a late copy still does nothing.
    assert store.remove("slot-a", "r-1", ["arn:aws:forecast:eu-west-1:111111111111:forecast-export-job/f/j"])
    assert store.read("slot-a") is None
    assert store.watchers("arn:aws:forecast:eu-west-1:111111111111:forecast-export-job/f/j") == []
    assert store.claim("slot-a", _request("r-1"), lambda held: True, []).duplicate
    assert store.read("slot-a") is None
    # ... and the record expires only a week after the request's longest possible life.
    record = dynamodb.get_item(TableName=table, Key={"pk": {"S": "REQ#r-1"}, "sk": {"S": "request"}})["Item"]
    assert float(record["expires_at"]["N"]) >= clock.now() + 7 * 86400 + 3600


def test_a_newer_request_takes_the_slot_over_and_the_older_ones_write_is_refused(dynamodb: Any, table: str) -> None:
    clock = SteppedClock()
    older_view = _store(dynamodb, table, clock)
    older = _request("r-old", started_at=1.0)
    older_view.claim("slot-b", older, lambda held: True, [])
    newer = _request("r-new", started_at=2.0, op="Delete")
    claim = _store(dynamodb, table, clock).claim("slot-b", newer, lambda held: True, [])
    assert claim.superseded is not None and claim.superseded["State"]["op"] == "Create"
    # The older request's invocation is still running and saves its look: refused, it must stop.
    with pytest.raises(LostSlot):
        older_view.save("slot-b", older)
    assert older_view.read("slot-b")["RequestId"] == "r-new"
    # Nor can it remove the newer request's slot.
    assert older_view.remove("slot-b", "r-old", [])
    assert older_view.read("slot-b")["RequestId"] == "r-new"


def test_two_invocations_of_one_request_cannot_both_save_what_they_read(dynamodb: Any, table: str) -> None:
    clock = SteppedClock()
    store = _store(dynamodb, table, clock)
    store.claim("slot-c", _request("r-c"), lambda held: True, [])
    first, second = store.read("slot-c"), store.read("slot-c")
    assert first is not None and second is not None and first[VERSION] == second[VERSION]
    store.save("slot-c", first)
    with pytest.raises(LostSlot):
        store.save("slot-c", second)
    assert store.read("slot-c")[VERSION] == first[VERSION]


def test_two_claims_of_one_empty_slot_have_one_winner(dynamodb: Any, table: str) -> None:
    """Both read an empty slot, then both write: the condition lets one through."""
    clock = SteppedClock()
    a, b = _store(dynamodb, table, clock), _store(dynamodb, table, clock)
    real_read = b.read
    b.read = lambda slot: None  # type: ignore[method-assign]  (b read before a wrote)
    assert not a.claim("slot-d", _request("r-a"), lambda held: True, []).stale
    lost = b.claim("slot-d", _request("r-b"), lambda held: True, [])
    b.read = real_read  # type: ignore[method-assign]
    assert lost.stale and not lost.duplicate
    assert a.read("slot-d")["RequestId"] == "r-a"


def test_the_due_index_lists_only_requests_in_flight_and_due(dynamodb: Any, table: str) -> None:
    clock = SteppedClock()
    store = _store(dynamodb, table, clock)
    for index in range(3):
        store.claim(f"slot-{index}", _request(f"r-{index}"), lambda held: True, [])
        clock.sleep(10)
    assert list(store.due(10)) == []  # claimed, then due a look period later (a Tick looks that much ahead)
    clock.sleep(LOOK_PERIOD_SECONDS - 15 - TICK_LOOKAHEAD_SECONDS)
    due = list(_store(dynamodb, table, clock).due(10))
    assert [(slot, request) for slot, request, _ in due] == [("slot-0", "r-0"), ("slot-1", "r-1")]
    store.remove("slot-0", "r-0", [])
    ((slot, request, due_at),) = _store(dynamodb, table, clock).due(1)
    assert (slot, request) == ("slot-1", "r-1")
    # One Tick takes the due look; a second Tick reading the same index entry (a GSI read may lag) does not.
    assert store.take_due(slot, request, due_at) and not store.take_due(slot, request, due_at)
    assert [s for s, _, _ in _store(dynamodb, table, clock).due(10)] == []


def test_an_expired_item_is_treated_as_gone_before_ttl_removes_it(dynamodb: Any, table: str) -> None:
    clock = SteppedClock()
    store = _store(dynamodb, table, clock)
    store.claim("slot-e", _request("r-e"), lambda held: True, [])
    clock.sleep(9 * 86400)
    assert _store(dynamodb, table, clock).read("slot-e") is None
