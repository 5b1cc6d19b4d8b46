"""Virtual time shared by threads, as a discrete-event simulation.

Threads that take part (participants) run concurrently in virtual time: a participant's
``sleep`` parks it, and time jumps to the earliest wake-up only when every participant is parked.
So five handler invocations polling side by side each see the clock they would see in AWS, and a
50-minute job takes no real time. A thread that is not a participant moves time by sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import threading


class SimulationOver(BaseException):
    """Raised in a parked thread when the test that owned it ends (BaseException: crhelper must not catch it)."""


class InvocationKilled(BaseException):
    """Raised in a participant thread whose kill deadline (``set_kill_deadline``) has passed, when it next
    sleeps or when it wakes up after it: Lambda stops an invocation at the function's timeout
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html). A BaseException, so that
    neither crhelper nor the handler can catch it and carry on."""

    def __init__(self, deadline: float) -> None:
        super().__init__(f"killed at the Lambda timeout (virtual {deadline:.3f})")
        self.deadline = deadline


class VirtualClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._awake = 0
        self._sleepers: list[list[object]] = []  # [wake, seq, released, abandoned]
        self._seq = itertools.count()
        self._local = threading.local()
        self.slept = 0.0

    def now(self) -> float:
        with self._cond:
            return self._now

    # --- participants -------------------------------------------------------------------------

    def enlist(self) -> None:
        """Count one more participant; call before starting its thread so no time passes in between."""
        with self._cond:
            self._awake += 1

    def join_as_participant(self) -> None:
        """Mark the calling thread as the participant that ``enlist`` counted."""
        self._local.participant = True

    def set_kill_deadline(self, deadline: float | None) -> None:
        """The calling thread dies (InvocationKilled) at ``deadline``: a sleep that would pass it parks
        until exactly then and raises. Also clears the thread's alarm."""
        self._local.kill_at = deadline
        self._local.alarm = None

    def kill_deadline(self) -> float | None:
        return getattr(self._local, "kill_at", None)

    def check_alive(self) -> None:
        """Raise InvocationKilled if the calling thread's kill deadline has passed."""
        deadline = getattr(self._local, "kill_at", None)
        if deadline is not None and self.now() >= deadline:
            raise InvocationKilled(deadline)

    def leave(self) -> None:
        self._local.participant = False
        with self._cond:
            self._awake -= 1
            self._advance_if_all_parked()
            self._cond.notify_all()

    def wait_until_quiet(self) -> None:
        """Block (without moving time) until every other participant is parked or gone."""
        with self._cond:
            while self._awake > 1:
                self._cond.wait()

    def abandon_all(self) -> None:
        """End every parked thread (SimulationOver) and forget them."""
        with self._cond:
            for entry in self._sleepers:
                entry[2] = entry[3] = True
            self._sleepers.clear()
            self._awake = 0
            self._cond.notify_all()

    # --- time ----------------------------------------------------------------------------------

    def set_alarm(self, at: float, callback: object, token: object) -> None:
        """Run ``callback()`` in the calling thread at virtual ``at``: when a sleep of this thread
        passes that moment, it parks until then, runs the callback, and sleeps on (one alarm per thread)."""
        self._local.alarm = (at, callback, token)

    def clear_alarm(self, token: object) -> None:
        alarm = getattr(self._local, "alarm", None)
        if alarm is not None and alarm[2] is token:
            self._local.alarm = None

    def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        wake = self.now() + seconds
        alarm = getattr(self._local, "alarm", None)
        if alarm is not None and alarm[0] <= wake:
            self._local.alarm = None
            self._sleep_until(alarm[0])
            alarm[1]()  # type: ignore[operator]
        self._sleep_until(wake)

    def _sleep_until(self, wake: float) -> None:
        seconds = max(0.0, wake - self.now())
        deadline = getattr(self._local, "kill_at", None)
        if deadline is not None:
            self.check_alive()
            if self.now() + seconds >= deadline:
                self._park(deadline - self.now())
                raise InvocationKilled(deadline)
        self._park(seconds)

    def _park(self, seconds: float) -> None:
        self.slept += seconds
        if not getattr(self._local, "participant", False):
            self.advance(seconds)
            return
        with self._cond:
            entry: list[object] = [self._now + seconds, next(self._seq), False, False]
            heapq.heappush(self._sleepers, entry)
            self._awake -= 1
            self._advance_if_all_parked()
            self._cond.notify_all()
            while not entry[2]:
                self._cond.wait()
            if entry[3]:
                raise SimulationOver()

    def _advance_if_all_parked(self) -> None:
        if self._awake > 0 or not self._sleepers:
            return
        self._now = max(self._now, float(self._sleepers[0][0]))  # type: ignore[arg-type]
        while self._sleepers and float(self._sleepers[0][0]) <= self._now:  # type: ignore[arg-type]
            entry = heapq.heappop(self._sleepers)
            entry[2] = True
            self._awake += 1

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds

    def advance_to(self, moment: float) -> None:
        with self._cond:
            self._now = max(self._now, moment)
