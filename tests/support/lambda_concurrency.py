"""Lambda's concurrency as the test bed applies it to asynchronous invocations (on by default).

Every event the driver hands a function goes through Lambda's asynchronous queue (CloudFormation's requests,
rule firings, Forecast's events, the handler's ``lambda:Invoke`` with ``InvocationType`` ``Event``); before
an event runs, the bed asks this model whether the function has a free execution environment.

- **Account pool**: 1,000 concurrent executions per Region by default, shared by every function of the account
  ("Lambda quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). "New AWS accounts
  have reduced concurrency and memory quotas" (same page; no figure published): ``new_account()`` is the opt-in
  reduced quota, 10 by default (what new accounts report in GetAccountSettings). Other tools of the account use
  part of the pool: ``others_use(executions, seconds=, after=)``, like eventbridge_quotas' ``others_use``.
- **Reserved concurrency** (``ReservedConcurrentExecutions`` of the function in its applied template): "sets both
  the maximum and minimum number of concurrent instances"; "no other function can use that concurrency"
  ("Configuring reserved concurrency", https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
  A reserved function runs only within its reservation (0: every invocation is throttled), never in the
  unreserved pool; unreserved functions share what the reservations leave. PutFunctionConcurrency "leave[s] at
  least 100 simultaneous executions unreserved"
  (https://docs.aws.amazon.com/lambda/latest/api/API_PutFunctionConcurrency.html): a template that reserves
  more is refused (``reserve`` returns Lambda's message; the driver records it as a violation). Harsh reading
  for a pool below 100 (a new account): no reservation at all fits.
- **Throttled asynchronous events** ("How Lambda handles errors and retries with asynchronous invocation",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html): "For throttling errors
  (429) ... Lambda returns the event to the queue and attempts to run the function again for up to 6 hours by
  default. The retry interval increases exponentially from 1 second after the first attempt to a maximum of
  5 minutes." Harsh reading: each event's own tries, 1 s after its first throttle, doubling (1, 2, 4 ... 256 s),
  then every 300 s; an event whose next try would come past its ``MaximumEventAgeInSeconds`` is tried once more
  at that age and then discarded (the driver records it in ``dropped``). The age counts from when the event
  entered the queue: CloudFormation's signing, the rule's firing, the ``lambda:Invoke``; for a Forecast event,
  when EventBridge handed it to Lambda. Not modelled: "If the queue contains many entries, Lambda increases the
  retry interval and reduces the rate at which it reads events" (no figure), and events "deleted from the queue
  without being sent to the function" when the function cannot keep up (same page).

An invocation holds one execution environment from its start until it ends (or Lambda kills it at its
timeout). Invocations the bed starts directly (``invoke_foreign``) count, but are never throttled.

Knobs (per test; ``reset`` restores the defaults): ``account_limit``, ``new_account()``, ``others_use(...)``,
``unreserved_minimum``. Throttles are counted per function in ``throttles`` and logged in ``log``.

Test support code: never shipped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .virtual_clock import VirtualClock

if TYPE_CHECKING:
    from .cfn_driver import Delivery, Invocation

ACCOUNT_CONCURRENCY = 1000  # gettingstarted-limits.html: "Concurrent executions 1,000"
NEW_ACCOUNT_CONCURRENCY = 10  # "New AWS accounts have reduced concurrency" (no figure published)
UNRESERVED_MINIMUM = 100  # API_PutFunctionConcurrency.html: "leave at least 100 ... unreserved"
FIRST_RETRY = 1.0  # invocation-async-error-handling.html: "from 1 second after the first attempt"
MAX_RETRY_INTERVAL = 300.0  # "to a maximum of 5 minutes"


@dataclass
class OthersWindow:
    """Other tools of the account run ``executions`` at once from ``start`` until ``until`` (None: the test's end)."""

    executions: int
    start: float
    until: float | None


@dataclass
class Throttled:
    """An event that found no free concurrency: tried again at ``retry_at``, or discarded (None) at its maximum age."""

    retry_at: float | None


@dataclass
class LambdaConcurrency:
    clock: VirtualClock
    account_limit: int = ACCOUNT_CONCURRENCY
    unreserved_minimum: int = UNRESERVED_MINIMUM
    reserved: dict[str, int] = field(default_factory=dict)  # function -> ReservedConcurrentExecutions
    others: list[OthersWindow] = field(default_factory=list)
    throttles: Counter[str] = field(default_factory=Counter)  # function -> throttled tries of its events
    log: list[str] = field(default_factory=list)
    _running: dict[str, list[Invocation]] = field(default_factory=dict)
    _tries: dict[int, int] = field(default_factory=dict)  # Delivery.seq -> throttled tries so far
    _queued_at: dict[int, float] = field(default_factory=dict)  # Delivery.seq -> entered Lambda's queue

    def reset(self) -> None:
        self.account_limit = ACCOUNT_CONCURRENCY
        self.unreserved_minimum = UNRESERVED_MINIMUM
        self.reserved.clear()
        self.others.clear()
        self.throttles.clear()
        self.log.clear()
        self._running.clear()
        self._tries.clear()
        self._queued_at.clear()

    def new_account(self, executions: int = NEW_ACCOUNT_CONCURRENCY) -> None:
        """The account's reduced quota of a new account (opt-in): ``executions`` concurrent executions."""
        self.account_limit = executions

    def others_use(self, executions: int, *, seconds: float | None = None, after: float = 0.0) -> None:
        """Other tools' functions run ``executions`` at once in the unreserved pool, ``after`` seconds from now,
        for ``seconds`` (None: until the test ends)."""
        start = self.clock.now() + after
        self.others.append(OthersWindow(executions, start, None if seconds is None else start + seconds))

    def reserve(self, function: str, executions: int | None, gone: set[str]) -> str | None:
        """The function's reservation from its applied template (None: none). Returns Lambda's refusal when the
        reservations would leave less than ``unreserved_minimum`` (or the whole pool, when smaller) unreserved."""
        if executions is None:
            self.reserved.pop(function, None)
            return None
        self.reserved[function] = executions
        left = self.account_limit - self._reserved_total(gone)
        if left < min(self.unreserved_minimum, self.account_limit):
            return (
                f"{function}: Specified ReservedConcurrentExecutions {executions} decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{self.unreserved_minimum}] "
                f"(account concurrency {self.account_limit})"
            )
        return None

    def started(self, function: str, invocation: Invocation) -> None:
        """An invocation of ``function`` took an execution environment (until its ``end`` is set)."""
        self._running.setdefault(function, []).append(invocation)

    def running(self, function: str) -> int:
        live = [i for i in self._running.get(function, []) if i.end is None]
        self._running[function] = live
        return len(live)

    def _reserved_total(self, gone: set[str]) -> int:
        return sum(n for f, n in self.reserved.items() if f not in gone)

    def _others(self, now: float) -> int:
        return sum(w.executions for w in self.others if w.start <= now and (w.until is None or now < w.until))

    def free(self, function: str, now: float, gone: set[str]) -> int:
        """Execution environments ``function`` may start now: its reservation's, else the unreserved pool's."""
        if function in self.reserved:
            return max(self.reserved[function] - self.running(function), 0)
        unreserved = self.account_limit - self._reserved_total(gone)
        used = self._others(now) + sum(self.running(f) for f in list(self._running) if f not in self.reserved)
        return max(unreserved - used, 0)

    def admit(self, function: str, delivery: Delivery, now: float, max_age: float, gone: set[str]) -> Throttled | None:
        """None when the event may run now; else when it is tried again, or that it is discarded."""
        queued = self._queued_at.setdefault(delivery.seq, delivery.at if delivery.trigger == "event" else delivery.fired)
        if self.free(function, now, gone) > 0:
            self._forget(delivery.seq)
            return None
        self.throttles[function] += 1
        tries = self._tries[delivery.seq] = self._tries.get(delivery.seq, 0) + 1
        expires = queued + max_age
        age = now - queued
        if now >= expires:
            self._forget(delivery.seq)
            self.log.append(f"t={now:.1f} {function} {delivery.trigger}: discarded at age {age:.0f} s after {tries} throttles")
            return Throttled(None)
        wait = min(FIRST_RETRY * 2 ** (tries - 1), MAX_RETRY_INTERVAL)
        retry_at = min(now + wait, expires)
        self.log.append(f"t={now:.1f} {function} {delivery.trigger}: throttled (try {tries}), again at t={retry_at:.1f}")
        return Throttled(retry_at)

    def _forget(self, seq: int) -> None:
        self._tries.pop(seq, None)
        self._queued_at.pop(seq, None)
