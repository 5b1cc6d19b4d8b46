"""Issue 16's scale requirement, reduced to run in the normal suite: many requests in flight on one shared provider,
most waiting for Forecast's 3 creation slots (`make scale` runs 10 stacks x 100 exports: docs/scale.md).

Each request due for a look is looked at within 2 minutes, no request costs an EventBridge rule or a statement
of the function's resource policy, no throttle ever answers FAILED, and nothing is left in flight once the stacks
are gone. Scenario and measurements: tests/support/scale.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import scale
from tests.support.cfn_driver import LocalCloud

STACKS = 2
EXPORTS = 10
MINUTES = 5


@pytest.mark.e2e
def test_twenty_requests_waiting_for_creation_slots_on_one_provider_are_each_looked_at_within_two_minutes(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    figures = scale.run(cloud, tmp_path, stacks=STACKS, exports=EXPORTS, minutes=MINUTES)
    assert figures.requests == STACKS * EXPORTS
    assert figures.statuses.get("in flight", 0) >= figures.requests - 3, figures.statuses  # most wait for a slot
    # Every request was due in the window (60 s after its claim), and each due moment was followed by a look in time.
    assert len(figures.gaps) >= figures.requests, len(figures.gaps)
    assert not figures.late, figures.late[:10]
    assert figures.gap("max") <= scale.LOOK_BOUND_SECONDS
    # Nothing per request in EventBridge or in the function's resource policy: the provider's two rules only.
    assert figures.rules == {
        "before the provider": 0,
        "provider deployed": 2,
        "all requests in flight": 2,
        "every stack deleted": 2,
        "provider deleted": 0,
    }
    assert len(set(figures.policy_statements.values())) == 1, figures.policy_statements
    assert not [op for op in figures.calls if op.startswith("events:") and op != "events:ListTargetsByRule"]
    # Throttling only delays: none answered here, and no Create answered FAILED at all.
    assert not figures.dynamodb_refusals, figures.dynamodb_refusals[:5]
    assert not figures.failed_reasons, figures.failed_reasons[:5]
    assert figures.slots_in_flight_after == 0
    assert not figures.leftovers
    cloud.check_invariants(allowed_stopped=3)
