"""wait_for_active with a scripted check (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import threading
import unittest
from typing import Callable, Union

from nexus_sdk import NexusError
from nexus_sdk.messages import CheckConnectionResponse
from nexus_sdk.wait import wait_for_active

Step = Union[CheckConnectionResponse, NexusError]


class Script:
    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self) -> CheckConnectionResponse:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, NexusError):
            raise step
        return step


def status(s: str, reason: str = "") -> CheckConnectionResponse:
    return CheckConnectionResponse(status=s, reason=reason)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def run(check: Callable[[], CheckConnectionResponse], clock: Clock, timeout: Union[float, None] = None,
        cancel: Union[threading.Event, None] = None) -> CheckConnectionResponse:
    return wait_for_active(check, interval=1.0, max_interval=2.0, timeout=timeout, cancel=cancel,
                           monotonic=lambda: clock.now, sleep=clock.sleep, random=lambda: 1.0)


class WaitForActive(unittest.TestCase):
    def test_polls_with_growing_pauses_until_active(self) -> None:
        clock = Clock()
        check = Script(status("pending"), status("pending"), status("pending"), status("pending"), status("active"))
        self.assertEqual(run(check, clock).status, "active")
        self.assertEqual(clock.pauses, [1.0, 1.5, 2.0, 2.0])

    def test_terminal_statuses_end_it_with_their_reason(self) -> None:
        for s, reason in (("failed", "connection_failed"), ("attention_required", "attention_required"), ("revoked", "connection_revoked")):
            with self.subTest(s), self.assertRaises(NexusError) as caught:
                run(Script(status("pending"), status(s, "access_denied")), Clock())
            self.assertEqual((caught.exception.code, caught.exception.reason), ("failed_precondition", reason))
            self.assertEqual(caught.exception.metadata, {"status": s, "status_reason": "access_denied"})

    def test_a_transient_error_is_waited_out_and_a_permanent_one_raised(self) -> None:
        down = NexusError("unavailable: x", code="unavailable", reason="unavailable")
        self.assertEqual(run(Script(down, status("active")), Clock()).status, "active")
        gone = NexusError("connection_not_found: x", code="not_found", reason="connection_not_found")
        with self.assertRaises(NexusError) as caught:
            run(Script(status("pending"), gone), Clock())
        self.assertEqual(caught.exception.reason, "connection_not_found")

    def test_the_timeout_ends_it_with_deadline_exceeded(self) -> None:
        clock = Clock()
        with self.assertRaises(NexusError) as caught:
            run(Script(*[status("pending")] * 10), clock, timeout=3.0)
        self.assertEqual((caught.exception.reason, caught.exception.metadata), ("deadline_exceeded", {"status": "pending"}))
        self.assertLessEqual(clock.now, 3.0)

    def test_cancel_ends_it_without_waiting_out_the_pause(self) -> None:
        cancel = threading.Event()
        calls = Script(status("pending"), status("pending"))

        def check() -> CheckConnectionResponse:
            result = calls()
            cancel.set()  # set while the waiter is about to pause for a long time
            return result

        with self.assertRaises(NexusError) as caught:
            wait_for_active(check, interval=3600, max_interval=3600, timeout=None, cancel=cancel,
                            monotonic=lambda: 0.0, sleep=lambda s: self.fail("cancel must be waited on, not sleep"), random=lambda: 1.0)
        self.assertEqual(caught.exception.reason, "canceled")
        self.assertEqual(calls.calls, 1)
