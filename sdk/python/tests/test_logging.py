"""Logs go through logging.getLogger("nexus_sdk") only: never stdout, nothing at all until the application
configures logging, and never a secret, whatever happens."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import contextlib
import io
import logging
import os
import subprocess
import sys
import unittest
from pathlib import Path

import nexus_sdk
from fake_gateway import FakeGateway, connect_error
from live import live
from nexus_sdk import NexusClient, NexusError, RetryPolicy
from stand_in import StandIn, Verdict


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name} {record.getMessage()} {record.__dict__}")


@contextlib.contextmanager
def captured():  # type: ignore[no-untyped-def]
    handler = Capture()
    logger = logging.getLogger("nexus_sdk")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    stdout = io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout):
            yield handler, stdout
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


class Quiet(unittest.TestCase):
    def test_an_unconfigured_application_sees_nothing_on_stdout_or_stderr(self) -> None:
        script = (
            "from nexus_sdk import NexusClient, NexusError, RetryPolicy\n"
            "c = NexusClient('http://127.0.0.1:9', 'nxa_secret_key', retry=RetryPolicy(attempts=2, base_delay=0))\n"
            "try:\n    c.get_token('x')\nexcept NexusError as e:\n    assert e.reason == 'unavailable'\n"
        )
        env = {**os.environ, "PYTHONPATH": str(Path(nexus_sdk.__file__).parent.parent)}
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=60)
        self.assertEqual((done.returncode, done.stdout, done.stderr), (0, b"", b""))


class NoSecrets(unittest.TestCase):
    def test_retries_log_a_warning_without_the_key(self) -> None:
        down = connect_error("unavailable", "provider_unavailable: later", "provider_unavailable")
        with captured() as (log, stdout), FakeGateway([(503, down), (200, {"credential": {"credentials": {"access_token": "AT-SECRET"}}})]) as gateway:
            NexusClient(gateway.url, "nxa_SECRET_KEY", sleep=lambda s: None).get_token("c")
        self.assertEqual(stdout.getvalue(), "")
        self.assertEqual(len(log.lines), 1)
        self.assertTrue(log.lines[0].startswith("WARNING nexus_sdk GetToken failed (provider_unavailable); retry 1 of 2"), log.lines[0])
        for secret in ("nxa_SECRET_KEY", "AT-SECRET"):
            self.assertNotIn(secret, log.lines[0])

    def test_a_live_flow_with_refreshes_retries_and_errors_logs_no_secret(self) -> None:
        stack = live()
        with captured() as (log, stdout):
            nexus = stack.client()
            credentials = [nexus.get_token(c) for c in stack.connections.values()]
            with StandIn() as api:
                api.check = lambda seen: Verdict(401 if len(api.seen) % 2 else 200)
                for connection in stack.connections.values():
                    nexus.authenticated_session(connection_id=connection).post(api.url + "/x?key=q", data=b"body")
            session = nexus.create_session(stack.connections["crm"], stack.sub_agent_id, ttl_seconds=60)
            sub = stack.client(stack.sub_agent_key)
            exchanged = sub.exchange(session.session_token)
            with contextlib.suppress(NexusError):
                nexus.exchange(session.session_token)
            down = NexusClient("http://127.0.0.1:9", stack.agent_key, retry=RetryPolicy(attempts=2, base_delay=0))
            with contextlib.suppress(NexusError):
                down.get_token(stack.connections["oauth"])
            nexus.revoke_session(session.session_id)
        self.assertEqual(stdout.getvalue(), "")
        self.assertTrue(any("401" in line for line in log.lines), log.lines)
        self.assertTrue(any("retry 1 of 1" in line for line in log.lines), log.lines)
        secrets = [stack.agent_key, stack.sub_agent_key, session.session_token, exchanged.access_token, *stack.secrets.values()]
        secrets += [v for c in credentials for v in c.credentials.values() if len(v) > 8]
        for line in log.lines:
            for secret in secrets:
                self.assertNotIn(secret, line)
