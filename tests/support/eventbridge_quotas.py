"""EventBridge's account quotas as the test bed applies them to the handler's calls (on by default).

From the EventBridge user guide, "Amazon EventBridge quotas"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html, and the older
https://docs.aws.amazon.com/eventbridge/latest/userguide/cloudwatch-limits-eventbridge.html):

- **Rules per event bus**: 300 per account and region (100 in af-south-1 and eu-south-1), adjustable.
  Every rule of the account on the default bus counts, whoever made it. ``PutRule`` of a new rule beyond
  it answers ``LimitExceededException`` (API_PutRule.html lists it); a ``PutRule`` that replaces an
  existing rule creates nothing and is not refused.
- **API request rate**: "all EventBridge APIs except PutEvents are limited to 50 requests per second by
  default", per account and region, shared by every tool of the account. Beyond it a call answers
  ``ThrottlingException`` (HTTP 400). Modelled as a token bucket on the virtual clock: 50 tokens per
  second, holding at most one second's worth; a throttled call uses no token.

Knobs (per test; ``reset`` restores the defaults): ``rules_per_bus``, ``other_rules`` (rules other tools
of the account hold on the bus), ``rate``, and ``others_use(requests_per_second, seconds=, after=)``: the
part of the rate other tools use in a window (their calls take the bucket's tokens first, so the handler
gets what is left). Each refusal is logged in ``refusals``.

Test support code: never shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .virtual_clock import VirtualClock

TARGET_INPUT_MAX = 8192
EVENT_PATTERN_MAX = 2048
RULES_PER_BUS = 300
RULES_PER_BUS_SMALL_REGIONS = 100  # af-south-1 and eu-south-1 (eb-quota.html)
REQUESTS_PER_SECOND = 50.0
BUCKET_SECONDS = 1.0  # the bucket holds one second of the rate: a burst of 50 calls at most
EXEMPT = ("events:PutEvents",)  # PutEvents has its own, regional quota


@dataclass
class OthersWindow:
    """Other tools of the account use ``rate`` requests per second of EventBridge from ``start`` until ``until``."""

    rate: float
    start: float
    until: float | None


@dataclass
class EventBridgeQuotas:
    clock: VirtualClock
    rules_per_bus: int = RULES_PER_BUS
    other_rules: int = 0
    rate: float = REQUESTS_PER_SECOND
    others: list[OthersWindow] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    _tokens: float | None = None
    _last: float = 0.0

    def reset(self) -> None:
        self.rules_per_bus = RULES_PER_BUS
        self.other_rules = 0
        self.rate = REQUESTS_PER_SECOND
        self.others.clear()
        self.refusals.clear()
        self._tokens = None
        self._last = 0.0

    def others_use(self, requests_per_second: float, *, seconds: float | None = None, after: float = 0.0) -> None:
        """Other tools use ``requests_per_second`` of the account's EventBridge rate, ``after`` seconds from
        now, for ``seconds`` (None: until the test ends)."""
        start = self.clock.now() + after
        self.others.append(OthersWindow(requests_per_second, start, None if seconds is None else start + seconds))

    def _left_for_us(self, now: float) -> float:
        used = sum(w.rate for w in self.others if w.start <= now and (w.until is None or now < w.until))
        return max(self.rate - used, 0.0)

    def _take_token(self, now: float) -> bool:
        rate = self._left_for_us(now)
        capacity = rate * BUCKET_SECONDS
        tokens = capacity if self._tokens is None else self._tokens + rate * max(now - self._last, 0.0)
        self._tokens, self._last = min(tokens, capacity), now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def refuse(self, operation: str, params: dict[str, Any], now: float, rules: set[str]) -> tuple[str, str, int] | None:
        """The error (code, message, HTTP status) EventBridge answers this call with, or None to let it through.
        ``rules``: the names of the rules on the bus now."""
        if not operation.startswith("events:") or operation in EXEMPT:
            return None
        if not self._take_token(now):
            self.refusals.append(f"t={now:.1f} {operation}: throttled")
            return "ThrottlingException", "Rate exceeded", 400
        # Sizes EventBridge refuses when the call is made: a target's Input over 8,192 characters, an event
        # pattern over 2,048 (eb-quota.html).
        too_long = [t.get("Id") for t in params.get("Targets") or [] if len(str(t.get("Input", ""))) > TARGET_INPUT_MAX]
        if operation == "events:PutTargets" and too_long:
            return "ValidationException", f"Input of targets {too_long} is longer than {TARGET_INPUT_MAX} characters", 400
        if operation == "events:PutRule" and len(str(params.get("EventPattern", ""))) > EVENT_PATTERN_MAX:
            return "InvalidEventPatternException", f"Event pattern is longer than {EVENT_PATTERN_MAX} characters", 400
        if operation == "events:PutRule" and str(params.get("Name", "")) not in rules:
            if len(rules) + self.other_rules >= self.rules_per_bus:
                self.refusals.append(f"t={now:.1f} PutRule {params.get('Name')}: {self.rules_per_bus} rules on the bus")
                return (
                    "LimitExceededException",
                    f"The requested resource exceeds the maximum number allowed ({self.rules_per_bus} rules per event bus)",
                    400,
                )
        return None
