"""Polling a connection until its user has finished the consent."""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from .errors import NexusError
from .messages import CheckConnectionResponse

log = logging.getLogger("nexus_sdk")

# The statuses that will never become active, and the reason each is reported with.
_TERMINAL = {"failed": "connection_failed", "attention_required": "attention_required", "revoked": "connection_revoked"}


def wait_for_active(check: Callable[[], CheckConnectionResponse], *, interval: float, max_interval: float,
                    timeout: Optional[float], cancel: Optional[threading.Event], monotonic: Callable[[], float],
                    sleep: Callable[[float], None], random: Callable[[], float]) -> CheckConnectionResponse:
    """Calls `check` until the status is `active`. Pauses grow by half each time up to `max_interval`, with
    jitter. `failed`, `attention_required` and `revoked` end it at once (`connection_failed`,
    `attention_required`, `connection_revoked`, with the status reason in `metadata["status_reason"]`); a
    retryable error is logged and polling goes on; `timeout` ends it with `deadline_exceeded`; setting
    `cancel` ends it with `canceled` without waiting out the pause."""
    deadline = None if timeout is None else monotonic() + timeout
    pause_ceiling = min(interval, max_interval)
    last = "unknown"

    def timed_out() -> NexusError:
        return NexusError(f"deadline_exceeded: the connection is still {last} after {timeout} s", code="deadline_exceeded",
                          reason="deadline_exceeded", metadata={"status": last})

    while True:
        if cancel is not None and cancel.is_set():
            raise NexusError("canceled: waiting for the connection was canceled", code="canceled", reason="canceled")
        if deadline is not None and monotonic() >= deadline:
            raise timed_out()
        try:
            current = check()
            last = current.status
            if current.status == "active":
                return current
            reason = _TERMINAL.get(current.status)
            if reason is not None:
                why = f" ({current.reason})" if current.reason else ""
                raise NexusError(f"{reason}: the connection is {current.status}{why}", code="failed_precondition", reason=reason,
                                 retryable=False, metadata={"status": current.status, "status_reason": current.reason})
            if current.status != "pending":
                raise NexusError(f'unknown_status: the Gateway reported status "{current.status}"', code="unknown", reason="unknown_status")
        except NexusError as error:
            if not error.retryable:
                raise
            log.warning("checking the connection failed (%s); still waiting", error.reason)
        pause = pause_ceiling * (0.5 + random() * 0.5)
        if deadline is not None:
            pause = min(pause, deadline - monotonic())
            if pause <= 0:
                raise timed_out()
        if cancel is not None:
            cancel.wait(pause)
        else:
            sleep(pause)
        pause_ceiling = min(max_interval, pause_ceiling * 1.5)
