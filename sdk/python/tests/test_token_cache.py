"""The token cache: eviction before expiry, one fetch per key for any number of threads (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import threading
import unittest
from typing import Optional, Sequence

from nexus_sdk import ConnectionKey, Credential, ExchangedCredential, NexusError, SessionKey, Strategy, TokenCache, WorkspaceKey


def credential(token: str, expires_at: Optional[int], connection_id: Optional[str] = None) -> Credential:
    return Credential(Strategy(type="oauth2", config={}), {"access_token": token}, expires_at, connection_id)


class FakeClient:
    """Counts calls; `gate`, when set, holds every fetch until it is opened."""

    def __init__(self, expires_at: Optional[int] = 2000) -> None:
        self.calls: list[tuple[str, str]] = []
        self.expires_at = expires_at
        self.gate: Optional[threading.Event] = None
        self.fail: Optional[NexusError] = None
        self.started = threading.Event()
        self._lock = threading.Lock()

    def _next(self, what: str, arg: str, connection_id: Optional[str] = None) -> Credential:
        with self._lock:
            self.calls.append((what, arg))
            n = len(self.calls)
        self.started.set()
        if self.gate is not None:
            self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return credential(f"{what}-{n}", self.expires_at, connection_id)

    def get_token(self, connection_id: str) -> Credential:
        return self._next("get", connection_id)

    def resolve_token(self, workspace_id: str, provider_name: str) -> Credential:
        return self._next("resolve", f"{workspace_id}/{provider_name}", "conn-of-" + workspace_id)

    def refresh(self, connection_id: str) -> Credential:
        return self._next("refresh", connection_id)

    def exchange(self, session_token: str, *, scopes: Sequence[str] = (), resource: str = "") -> ExchangedCredential:
        c = self._next("exchange", f"{session_token}|{' '.join(scopes)}|{resource}")
        return ExchangedCredential("at", "x", "Bearer", 60, tuple(scopes), c, ())


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class SingleFlight(unittest.TestCase):
    def test_a_hundred_threads_asking_at_once_cause_one_fetch(self) -> None:
        client = FakeClient()
        client.gate = threading.Event()
        cache = TokenCache(client, clock=Clock(1000))
        entered = threading.Semaphore(0)
        results: list[Credential] = []
        lock = threading.Lock()

        def ask() -> None:
            entered.release()
            got = cache.get(ConnectionKey("c1"))
            with lock:
                results.append(got)

        threads = [threading.Thread(target=ask) for _ in range(100)]
        for t in threads:
            t.start()
        for _ in threads:
            entered.acquire()  # every thread is on its way into get() while the one fetch is held open
        client.gate.set()
        for t in threads:
            t.join()
        self.assertEqual(client.calls, [("get", "c1")])
        self.assertEqual(len(results), 100)
        self.assertTrue(all(r is results[0] for r in results))

    def test_a_failed_fetch_reaches_every_waiter_and_is_not_cached(self) -> None:
        client = FakeClient()
        client.fail = NexusError("unavailable: down", code="unavailable", reason="unavailable")
        cache = TokenCache(client, clock=Clock(1000))
        errors: list[NexusError] = []

        def ask() -> None:
            try:
                cache.get(WorkspaceKey("ws", "p"))
            except NexusError as error:
                errors.append(error)

        threads = [threading.Thread(target=ask) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(len(errors), 20)
        self.assertTrue(all(e.reason == "unavailable" and e.retryable for e in errors))
        self.assertEqual(len({id(e) for e in errors}), 20, "each thread raises its own copy")
        client.fail = None
        self.assertEqual(cache.get(WorkspaceKey("ws", "p")).credentials["access_token"], f"resolve-{len(client.calls)}")

    def test_keys_do_not_share_flights(self) -> None:
        client = FakeClient()
        cache = TokenCache(client, clock=Clock(1000))
        cache.get(ConnectionKey("a"))
        cache.get(ConnectionKey("b"))
        cache.get(WorkspaceKey("a", "b"))
        cache.get(ConnectionKey("a"))
        self.assertEqual(client.calls, [("get", "a"), ("get", "b"), ("resolve", "a/b")])


class Eviction(unittest.TestCase):
    def test_served_until_the_margin_before_expiry_then_fetched_again(self) -> None:
        client = FakeClient(expires_at=2000)
        clock = Clock(1000)
        cache = TokenCache(client, evict_before_expiry=60, clock=clock)
        first = cache.get(ConnectionKey("c"))
        clock.now = 1939.9
        self.assertIs(cache.get(ConnectionKey("c")), first)
        clock.now = 1940
        self.assertIsNot(cache.get(ConnectionKey("c")), first)
        self.assertEqual(len(client.calls), 2)

    def test_a_credential_arriving_inside_the_margin_is_returned_but_not_kept(self) -> None:
        client = FakeClient(expires_at=1030)
        cache = TokenCache(client, evict_before_expiry=60, clock=Clock(1000))
        cache.get(ConnectionKey("c"))
        cache.get(ConnectionKey("c"))
        self.assertEqual(len(client.calls), 2)

    def test_a_credential_without_expiry_stays_until_invalidated(self) -> None:
        client = FakeClient(expires_at=None)
        clock = Clock(1000)
        cache = TokenCache(client, clock=clock)
        first = cache.get(ConnectionKey("c"))
        clock.now = 10**9
        self.assertIs(cache.get(ConnectionKey("c")), first)
        cache.invalidate(ConnectionKey("c"))
        self.assertIsNot(cache.get(ConnectionKey("c")), first)

    def test_an_invalidate_during_a_fetch_keeps_its_answer_out_of_the_cache(self) -> None:
        client = FakeClient()
        client.gate = threading.Event()
        cache = TokenCache(client, clock=Clock(1000))
        waiter = threading.Thread(target=cache.get, args=(ConnectionKey("c"),))
        waiter.start()
        client.started.wait()
        cache.invalidate(ConnectionKey("c"))
        client.gate.set()
        waiter.join()
        client.gate = None
        cache.get(ConnectionKey("c"))
        self.assertEqual(len(client.calls), 2)


class ForceRefresh(unittest.TestCase):
    def test_each_kind_of_key_refreshes_its_own_way(self) -> None:
        client = FakeClient()
        cache = TokenCache(client, clock=Clock(1000))
        self.assertEqual(cache.force_refresh(ConnectionKey("c")).credentials["access_token"], "refresh-1")
        # A workspace key refreshes the connection its cached credential was resolved from.
        cache.get(WorkspaceKey("ws", "p"))
        refreshed = cache.force_refresh(WorkspaceKey("ws", "p"))
        self.assertEqual(client.calls[-1], ("refresh", "conn-of-ws"))
        self.assertEqual(refreshed.connection_id, "conn-of-ws")
        self.assertIs(cache.get(WorkspaceKey("ws", "p")), refreshed)
        # With nothing cached it resolves first to learn the connection.
        cache.invalidate(WorkspaceKey("ws", "p"))
        cache.force_refresh(WorkspaceKey("ws", "p"))
        self.assertEqual(client.calls[-2:], [("resolve", "ws/p"), ("refresh", "conn-of-ws")])
        # A short-lived credential is not kept, but which connection it came from is.
        short = FakeClient(expires_at=1010)
        short_cache = TokenCache(short, clock=Clock(1000))
        short_cache.get(WorkspaceKey("ws", "p"))
        short_cache.force_refresh(WorkspaceKey("ws", "p"))
        self.assertEqual(short.calls, [("resolve", "ws/p"), ("refresh", "conn-of-ws")])
        # A session key exchanges again; scopes are a set.
        key = SessionKey(" tok ", ("b", "a", "b"), "crm")
        self.assertEqual(key, SessionKey("tok", ("a", "b"), "crm"))
        cache.get(key)
        cache.force_refresh(key)
        self.assertEqual(client.calls[-2:], [("exchange", "tok|a b|crm"), ("exchange", "tok|a b|crm")])
        self.assertNotIn("tok", repr(key))
