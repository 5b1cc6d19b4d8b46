"""The harsher bed's own mechanisms: the kill at the Lambda timeout and crhelper's timer on the virtual clock."""

from __future__ import annotations

import threading

import pytest

from tests.support.virtual_clock import InvocationKilled, VirtualClock


def _in_participant(clock: VirtualClock, body: object) -> dict[str, object]:
    out: dict[str, object] = {}

    def run() -> None:
        clock.join_as_participant()
        try:
            body(out)  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001
            out["raised"] = error
        finally:
            clock.leave()

    clock.enlist()
    thread = threading.Thread(target=run, name="invocation-test")
    thread.start()
    thread.join(10)
    return out


def test_a_sleep_past_the_kill_deadline_dies_at_the_deadline() -> None:
    clock = VirtualClock(start=0.0)

    def body(out: dict[str, object]) -> None:
        clock.set_kill_deadline(90.0)
        clock.sleep(60)
        out["at_60"] = clock.now()
        clock.sleep(100)
        out["after"] = True

    out = _in_participant(clock, body)
    assert out["at_60"] == 60.0 and "after" not in out
    assert isinstance(out["raised"], InvocationKilled) and clock.now() == 90.0


def test_the_alarm_fires_at_its_moment_inside_a_longer_sleep() -> None:
    clock = VirtualClock(start=0.0)

    def body(out: dict[str, object]) -> None:
        clock.set_kill_deadline(90.0)
        clock.set_alarm(89.5, lambda: out.setdefault("alarm_at", clock.now()), object())
        clock.sleep(120)

    out = _in_participant(clock, body)
    assert out["alarm_at"] == 89.5
    assert isinstance(out["raised"], InvocationKilled)


def test_a_cleared_alarm_never_fires() -> None:
    clock = VirtualClock(start=0.0)
    token = object()

    def body(out: dict[str, object]) -> None:
        clock.set_alarm(5.0, lambda: out.setdefault("fired", True), token)
        clock.clear_alarm(token)
        clock.sleep(10)

    out = _in_participant(clock, body)
    assert "fired" not in out and "raised" not in out


def test_check_alive_raises_only_past_the_deadline() -> None:
    clock = VirtualClock(start=0.0)
    clock.set_kill_deadline(10.0)
    clock.check_alive()
    clock.advance(10.0)
    with pytest.raises(InvocationKilled):
        clock.check_alive()
    clock.set_kill_deadline(None)
