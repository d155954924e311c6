"""Unary calls to the Gateway over the Connect protocol with JSON."""
from __future__ import annotations

import json
import socket
import urllib.error
from typing import Any, Optional, TypeVar

from ._wire import WireError, decode, encode
from .errors import NexusError, from_connect_response
from .http import Send
from .messages import GATEWAY_SERVICE

T = TypeVar("T")


class ConnectCaller:
    """POSTs `{base}/nexus.gateway.v1.GatewayService/<Method>` with a JSON body and the agent's key as
    `Authorization: Bearer`; a non-200 answer is read as Connect's error JSON."""

    def __init__(self, base_url: str, api_key: str, send: Send, timeout: Optional[float], user_agent: str) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Connect-Protocol-Version": "1",
            "Authorization": f"Bearer {api_key}",
            "User-Agent": user_agent,
        }
        self._send = send
        self._timeout = timeout

    def call(self, method: str, request: Any, response_type: type[T]) -> T:
        """One attempt of `method`; every failure is a NexusError."""
        headers = dict(self._headers)
        if self._timeout is not None:
            # The deadline travels to the Gateway and on to the Broker, so a call given up on stops everywhere.
            headers["Connect-Timeout-Ms"] = str(max(1, int(self._timeout * 1000)))
        body = json.dumps(encode(request), separators=(",", ":")).encode("utf-8")
        url = f"{self._base}/{GATEWAY_SERVICE}/{method}"
        try:
            # The socket waits a little longer than the deadline, so the Gateway's own deadline_exceeded arrives first.
            answer = self._send("POST", url, headers, body, None if self._timeout is None else self._timeout + 1)
        except (TimeoutError, socket.timeout) as error:
            raise NexusError(f"deadline_exceeded: no answer from the Gateway within {self._timeout} s", code="deadline_exceeded", reason="deadline_exceeded") from error
        except OSError as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise NexusError(f"deadline_exceeded: no answer from the Gateway within {self._timeout} s", code="deadline_exceeded", reason="deadline_exceeded") from error
            raise NexusError(f"unavailable: the Gateway is not reachable ({_describe(reason)})", code="unavailable", reason="unavailable") from error
        if answer.status_code != 200:
            raise from_connect_response(answer.status_code, answer.content)
        try:
            return decode(response_type, json.loads(answer.content.decode("utf-8")))
        except (UnicodeDecodeError, ValueError) as error:
            detail = str(error) if isinstance(error, WireError) else "not JSON"
            raise NexusError(f"invalid_response: the Gateway's answer to {method} does not fit the API ({detail})", code="internal", reason="invalid_response") from None


def _describe(reason: Any) -> str:
    """What went wrong on the network, without anything from the request."""
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return type(reason).__name__ if isinstance(reason, BaseException) else str(reason)
