"""The test bed's DynamoDB (moto behind the driver's hooks): IAM as the Service Authorization Reference maps each
item operation, and DynamoDB's limits (tests/support/dynamodb_quotas.py): item size, transaction size, throughput
per partition key value, and faults injected per operation.

boto3 is driven directly from a thread named ``invocation-test`` acting as the probe stack's function
(``LocalCloud.acting_as``), against the table the stack's template made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import pytest
from botocore.exceptions import ClientError
from cdk_forecast_export._lambda.forecast_export import contract

from tests.support.cfn_driver import ACCOUNT, REGION, LocalCloud, LocalStack, required_permissions
from tests.support.dynamodb_quotas import ITEM_SIZE_MAX, item_size
from tests.support.template_triggers import stack_template

T = TypeVar("T")
FUNCTION = "Probe-Handler"


@pytest.fixture
def table(cloud: LocalCloud) -> str:
    stack = LocalStack(cloud, stack_template(tick=False), name="Probe")
    stack.create()
    cloud.call_latency = (0.0, 0.0)  # calls at one instant: the partition's second of capacity is what counts
    return stack.physical_name("State")


def as_handler(cloud: LocalCloud, work: Callable[[], T]) -> T:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with cloud.acting_as(FUNCTION):
                outcome["value"] = work()
        except BaseException as error:  # noqa: BLE001  (re-raised in the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=run, name="invocation-test", daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the bed hung"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def put(table: str, pk: str, size: int = 10, sk: str = "state") -> Any:
    item = {"pk": {"S": pk}, "sk": {"S": sk}, "state": {"S": "x" * size}}
    return boto3.client("dynamodb").put_item(TableName=table, Item=item)


def error_code(work: Callable[[], Any]) -> str:
    try:
        work()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return ""


def test_item_operations_are_authorised_on_the_table_and_a_query_on_its_index() -> None:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/T"
    for operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem", "Query"):
        assert required_permissions(f"dynamodb:{operation}", {"TableName": "T"}) == [(f"dynamodb:{operation}", arn, {})]
    assert required_permissions("dynamodb:Query", {"TableName": "T", "IndexName": "due"}) == [
        ("dynamodb:Query", f"{arn}/index/due", {})
    ]
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "T", "Item": {}}},
            {"Update": {"TableName": "T", "Key": {}}},
            {"Delete": {"TableName": "U", "Key": {}}},
            {"ConditionCheck": {"TableName": "T", "Key": {}}},
        ]
    }
    assert required_permissions("dynamodb:TransactWriteItems", transaction) == [
        ("dynamodb:PutItem", arn, {}),
        ("dynamodb:UpdateItem", arn, {}),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/U", {}),
        ("dynamodb:ConditionCheckItem", arn, {}),
    ]
    assert required_permissions("lambda:Invoke", {"FunctionName": "arn:aws:lambda:us-east-1:1:function:F"}) == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:F", {})
    ]


def test_the_handler_role_may_use_its_own_table_and_due_index_and_nothing_else(cloud: LocalCloud, table: str) -> None:
    as_handler(cloud, lambda: put(table, "SLOT#a"))
    client = boto3.client("dynamodb")
    query = {
        "TableName": table,
        "IndexName": contract.DUE_INDEX,
        "KeyConditionExpression": "due_shard = :s",
        "ExpressionAttributeValues": {":s": {"S": "due"}},
    }
    assert as_handler(cloud, lambda: client.query(**query))["Count"] == 0
    other = LocalStack(cloud, stack_template(tick=False), name="Other").physical_name("State")
    assert as_handler(cloud, lambda: error_code(lambda: put(other, "SLOT#a"))) == "AccessDeniedException"
    scan = as_handler(cloud, lambda: error_code(lambda: client.scan(TableName=table)))
    assert scan == "AccessDeniedException"  # not granted by the template
    transaction = {"TransactItems": [{"Put": {"TableName": other, "Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}}]}
    assert as_handler(cloud, lambda: error_code(lambda: client.transact_write_items(**transaction))) == "AccessDeniedException"


def test_an_item_over_400_kb_is_refused(cloud: LocalCloud, table: str) -> None:
    assert item_size({"pk": {"S": "ab"}, "n": {"N": "123"}}) == 2 + 2 + 1 + 2  # a number: 1 byte per 2 digits, +1
    # moto itself refuses past 405,000 bytes, a little before DynamoDB's 409,600: the bed is that much harsher.
    assert as_handler(cloud, lambda: error_code(lambda: put(table, "SLOT#a", 400_000))) == ""
    assert as_handler(cloud, lambda: error_code(lambda: put(table, "SLOT#b", ITEM_SIZE_MAX))) == "ValidationException"
    assert any(f"{ITEM_SIZE_MAX + 20} bytes" in r for r in cloud.dynamodb_quotas.refusals)  # the bed's, not moto's


def test_a_transaction_of_more_than_a_hundred_actions_is_refused(cloud: LocalCloud, table: str) -> None:
    def transaction(count: int) -> Callable[[], Any]:
        items = [{"Put": {"TableName": table, "Item": {"pk": {"S": f"JOB#{i}"}, "sk": {"S": "s"}}}} for i in range(count)]
        return lambda: boto3.client("dynamodb").transact_write_items(TransactItems=items)

    assert as_handler(cloud, lambda: error_code(transaction(100))) == ""
    assert as_handler(cloud, lambda: error_code(transaction(101))) == "ValidationException"
    assert any("101 actions" in r for r in cloud.dynamodb_quotas.refusals)


def test_a_hot_partition_key_is_throttled_as_dynamodb_says_and_recovers_a_second_later(cloud: LocalCloud, table: str) -> None:
    hundred_kb = 100 * 1024 - 40  # 100 write units with its key and name

    def burst() -> list[str]:
        codes = [error_code(lambda i=i: put(table, "SLOT#hot", hundred_kb, sk=f"s{i}")) for i in range(11)]
        codes.append(error_code(lambda: put(table, "SLOT#cold", hundred_kb)))  # another key: another partition
        cloud.clock.sleep(1.0)
        codes.append(error_code(lambda: put(table, "SLOT#hot", hundred_kb)))
        return codes

    codes = as_handler(cloud, burst)
    assert codes[:10] == [""] * 10  # 1,000 write units in one second
    assert codes[10] == "ProvisionedThroughputExceededException"
    assert codes[11:] == ["", ""]
    assert any("TableWriteKeyRangeThroughputExceeded" in r for r in cloud.dynamodb_quotas.refusals)


def test_faults_are_injected_per_dynamodb_operation(cloud: LocalCloud, table: str) -> None:
    cloud.throttle("dynamodb:PutItem", times=1)
    cloud.inject("dynamodb:Query", "InternalServerError", 500, times=1)
    client = boto3.client("dynamodb", config=boto3.session.Config(retries={"max_attempts": 1}))
    query = {"TableName": table, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "x"}}}

    def calls() -> list[str]:
        return [
            error_code(lambda: client.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})),
            error_code(lambda: client.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"S": "b"}})),
            error_code(lambda: client.query(**query)),
            error_code(lambda: client.query(**query)),
        ]

    assert as_handler(cloud, calls) == ["ThrottlingException", "", "InternalServerError", ""]


def test_writes_of_in_flight_items_share_the_due_index_partition(cloud: LocalCloud, table: str) -> None:
    cloud.dynamodb_quotas.write_units_per_partition = 5.0
    client = boto3.client("dynamodb")

    def due(slot: str) -> Callable[[], Any]:
        item = {"pk": {"S": f"SLOT#{slot}"}, "sk": {"S": "state"}, "due_shard": {"S": "due"}, "due_at": {"N": "1"}}
        return lambda: client.put_item(TableName=table, Item=item)

    def update(slot: str) -> Callable[[], Any]:
        return lambda: client.update_item(
            TableName=table,
            Key={"pk": {"S": f"SLOT#{slot}"}, "sk": {"S": "state"}},
            UpdateExpression="SET #d = :d, due_at = :t",
            ExpressionAttributeNames={"#d": "due_shard"},
            ExpressionAttributeValues={":d": {"S": "due"}, ":t": {"N": "2"}},
        )

    codes = as_handler(cloud, lambda: [error_code(due(f"s{i}")) for i in range(5)] + [error_code(update("s9"))])
    assert codes == [""] * 5 + ["ProvisionedThroughputExceededException"]  # five slots, one index partition
    assert any("IndexWriteKeyRangeThroughputExceeded" in r for r in cloud.dynamodb_quotas.refusals)


def test_queries_of_the_due_index_share_its_read_units(cloud: LocalCloud, table: str) -> None:
    cloud.dynamodb_quotas.read_units_per_partition = 1.0  # two eventually consistent reads
    query = {
        "TableName": table,
        "IndexName": contract.DUE_INDEX,
        "KeyConditionExpression": "#s = :s AND due_at <= :n",
        "ExpressionAttributeNames": {"#s": contract.DUE_SHARD_ATTRIBUTE},
        "ExpressionAttributeValues": {":s": {"S": "due"}, ":n": {"N": "5"}},
    }
    client = boto3.client("dynamodb")
    codes = as_handler(cloud, lambda: [error_code(lambda: client.query(**query)) for _ in range(3)])
    assert codes == ["", "", "ProvisionedThroughputExceededException"]
    assert any("IndexReadKeyRangeThroughputExceeded" in r for r in cloud.dynamodb_quotas.refusals)


def test_claiming_the_state_item_and_invoking_itself_are_coordination_not_work() -> None:
    from tests.support.cfn_driver import Invocation

    claim = Invocation(0, 0, 1, calls=[(0.1, "dynamodb:UpdateItem"), (0.2, "dynamodb:Query"), (0.3, "lambda:Invoke")])
    assert not claim.did_work  # two invocations may race for the claim; only the winner works
    assert Invocation(0, 0, 1, calls=[(0.1, "dynamodb:GetItem"), (0.2, "forecast:StopResource")]).did_work
