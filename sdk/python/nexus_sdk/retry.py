"""Retries of Gateway calls: only for retryable errors, with exponential backoff and full jitter."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, TypeVar

from .errors import NexusError

T = TypeVar("T")
log = logging.getLogger("nexus_sdk")


@dataclass(frozen=True)
class RetryPolicy:
    """How a Gateway call is retried. Only retryable errors (`unavailable`, or `resource_exhausted` with a
    google.rpc.RetryInfo hint) are ever retried; `not_found`, `invalid_argument`, `payload_too_large` and the
    rest fail at once, because sending the same request again cannot change the answer."""

    attempts: int = 3
    """Attempts in all, the first included."""
    base_delay: float = 0.2
    """Ceiling of the first wait, in seconds."""
    max_delay: float = 5.0
    """No wait is longer, in seconds."""

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("RetryPolicy needs attempts >= 1 and delays >= 0")


def backoff_delay(attempt: int, base_delay: float, max_delay: float, random: Callable[[], float]) -> float:
    """Full jitter: a uniform wait in [0, min(max_delay, base_delay * 2**attempt)), `attempt` counting failures from 0.

    Agents that failed together (a Gateway restart) spread out instead of coming back in lockstep.
    """
    return random() * min(max_delay, base_delay * 2.0 ** min(attempt, 30))


def call_with_retry(operation: Callable[[], T], policy: RetryPolicy, *, what: str,
                    sleep: Callable[[float], None], random: Callable[[], float]) -> T:
    """Runs `operation`, retrying a retryable NexusError; its `retry_after` (RetryInfo) lengthens the wait, within max_delay."""
    attempt = 0
    while True:
        try:
            return operation()
        except NexusError as error:
            if not error.retryable or attempt + 1 >= policy.attempts:
                raise
            delay = backoff_delay(attempt, policy.base_delay, policy.max_delay, random)
            delay = min(policy.max_delay, max(delay, error.retry_after or 0.0))
            log.warning("%s failed (%s); retry %d of %d in %.3f s", what, error.reason, attempt + 1, policy.attempts - 1, delay)
            sleep(delay)
            attempt += 1
