"""The real Gateway and Broker the live tests run against, as test/e2e/python-sdk.test.ts describes them.

Without NEXUS_TEST_GATEWAY_URL the live tests are skipped (a plain `python3 -m unittest` in sdk/python runs
the unit tests only); with NEXUS_TEST_REQUIRE_LIVE=1 a missing Gateway fails them instead.
"""
from __future__ import annotations

import json
import os
import re
import unittest
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from nexus_sdk import NexusClient


@dataclass(frozen=True)
class Live:
    gateway_url: str
    broker_url: str
    agent_key: str = field(repr=False)
    agent_id: str
    sub_agent_key: str = field(repr=False)
    sub_agent_id: str
    other_agent_key: str = field(repr=False)
    other_agent_id: str
    idp_issuer: str
    sandbox_api: str
    workspace: str
    connections: dict[str, str]
    secrets: dict[str, str] = field(repr=False)

    def client(self, key: str = "", **options: Any) -> NexusClient:
        """A client of the Gateway as the stack's own agent (or with `key`)."""
        return NexusClient(self.gateway_url, key or self.agent_key, **options)

    def gateway_token_calls(self) -> float:
        """How many GetToken calls the Gateway has answered, from its /metrics (`grpc_server_handled_total`,
        every protocol and outcome): a count on the server's side, which the SDK cannot fake. (The Broker's
        own count would lag: the Gateway answers repeated reads from its cache and reports them once a second.)"""
        with urllib.request.urlopen(f"{self.gateway_url}/metrics", timeout=10) as answer:
            text = answer.read().decode("utf-8")
        total = 0.0
        for line in text.splitlines():
            if line.startswith("grpc_server_handled_total{") and 'grpc_service="nexus.gateway.v1.GatewayService"' in line \
                    and 'grpc_method="GetToken"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total


def live() -> Live:
    """The stack, or SkipTest (a failure under NEXUS_TEST_REQUIRE_LIVE=1) when none was started."""
    env = os.environ
    if "NEXUS_TEST_GATEWAY_URL" not in env:
        if env.get("NEXUS_TEST_REQUIRE_LIVE") == "1":
            raise AssertionError("NEXUS_TEST_REQUIRE_LIVE=1 but NEXUS_TEST_GATEWAY_URL is unset")
        raise unittest.SkipTest("needs a Gateway and a Broker: run test/e2e/python-sdk.test.ts")
    fixture = json.loads(env["NEXUS_TEST_FIXTURE"])
    return Live(
        gateway_url=env["NEXUS_TEST_GATEWAY_URL"], broker_url=env["NEXUS_TEST_BROKER_URL"], agent_key=env["NEXUS_TEST_AGENT_KEY"], agent_id=env["NEXUS_TEST_AGENT_ID"],
        sub_agent_key=env["NEXUS_TEST_SUB_AGENT_KEY"], sub_agent_id=env["NEXUS_TEST_SUB_AGENT_ID"],
        other_agent_key=env["NEXUS_TEST_OTHER_AGENT_KEY"], other_agent_id=env["NEXUS_TEST_OTHER_AGENT_ID"], idp_issuer=env["NEXUS_TEST_IDP_ISSUER"],
        sandbox_api=env["NEXUS_TEST_SANDBOX_API"], workspace=fixture["workspace"], connections=fixture["connections"],
        secrets=fixture["secrets"],
    )


def userinfo_status(issuer: str, authorization: str) -> int:
    """What the IdP's userinfo endpoint says to an Authorization header: 200 for a live access token."""
    request = urllib.request.Request(f"{issuer}/me", headers={"Authorization": authorization})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
