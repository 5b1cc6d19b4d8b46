"""The bed's EventBridge quotas (tests/support/eventbridge_quotas.py): rules per bus and 50 requests/s."""

from __future__ import annotations

from tests.support.eventbridge_quotas import RULES_PER_BUS_SMALL_REGIONS, EventBridgeQuotas
from tests.support.virtual_clock import VirtualClock


def _quotas() -> tuple[VirtualClock, EventBridgeQuotas]:
    clock = VirtualClock(start=1000.0)
    return clock, EventBridgeQuotas(clock)


def _codes(quotas: EventBridgeQuotas, clock: VirtualClock, count: int, operation: str = "events:ListTargetsByRule") -> list[str]:
    answers = [quotas.refuse(operation, {"Rule": "r"}, clock.now(), set()) for _ in range(count)]
    return [answer[0] if answer else "ok" for answer in answers]


def test_a_burst_of_fifty_calls_passes_and_the_next_one_is_throttled() -> None:
    clock, quotas = _quotas()
    assert _codes(quotas, clock, 51) == ["ok"] * 50 + ["ThrottlingException"]
    clock.advance(0.1)  # 5 tokens back
    assert _codes(quotas, clock, 6) == ["ok"] * 5 + ["ThrottlingException"]


def test_other_tools_using_the_whole_rate_throttle_every_call_for_their_window() -> None:
    clock, quotas = _quotas()
    quotas.others_use(50, seconds=40, after=10)
    assert _codes(quotas, clock, 1) == ["ok"]
    clock.advance(10)
    for _ in range(8):
        assert _codes(quotas, clock, 1) == ["ThrottlingException"]
        clock.advance(5)
    assert _codes(quotas, clock, 1) == ["ok"]  # 50 s: the window is over
    assert len(quotas.refusals) == 8


def test_other_tools_using_part_of_the_rate_leave_the_rest() -> None:
    clock, quotas = _quotas()
    quotas.others_use(30)
    passed = 0
    for _ in range(200):  # 50 calls/s for 4 s against the 20/s left
        clock.advance(0.02)
        passed += _codes(quotas, clock, 1) == ["ok"]
    assert 99 <= passed <= 101  # 20/s for 4 s, plus one second's burst of 20


def test_put_rule_of_a_new_rule_beyond_the_quota_is_refused_and_a_replacement_is_not() -> None:
    clock, quotas = _quotas()
    quotas.other_rules = 299
    mine = {"fcx-mine"}
    assert quotas.refuse("events:PutRule", {"Name": "fcx-new"}, clock.now(), mine) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed (300 rules per event bus)",
        400,
    )
    assert quotas.refuse("events:PutRule", {"Name": "fcx-mine"}, clock.now(), mine) is None  # replaces, creates nothing
    quotas.other_rules = 298
    assert quotas.refuse("events:PutRule", {"Name": "fcx-new"}, clock.now(), mine) is None


def test_the_small_regions_quota_is_a_knob() -> None:
    clock, quotas = _quotas()
    quotas.rules_per_bus = RULES_PER_BUS_SMALL_REGIONS
    rules = {f"rule{i}" for i in range(100)}
    refused = quotas.refuse("events:PutRule", {"Name": "one-more"}, clock.now(), rules)
    assert refused is not None and refused[0] == "LimitExceededException"


def test_put_events_and_other_services_are_not_counted() -> None:
    clock, quotas = _quotas()
    quotas.others_use(50)
    assert quotas.refuse("events:PutEvents", {}, clock.now(), set()) is None
    assert quotas.refuse("forecast:DescribeForecastExportJob", {}, clock.now(), set()) is None
    assert quotas.refuse("events:PutTargets", {"Rule": "r"}, clock.now(), set()) is not None


def test_reset_restores_the_documented_defaults() -> None:
    clock, quotas = _quotas()
    quotas.rules_per_bus, quotas.other_rules, quotas.rate = 1, 5, 1.0
    quotas.others_use(50)
    quotas.reset()
    assert (quotas.rules_per_bus, quotas.other_rules, quotas.rate, quotas.others) == (300, 0, 50.0, [])
    assert _codes(quotas, clock, 50) == ["ok"] * 50
