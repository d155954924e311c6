"""The hosts a session's credential may be sent to."""
from __future__ import annotations

from typing import Sequence
from urllib.parse import urlsplit

from .credential import Credential
from .errors import NexusError


def allowed_hosts_of(credential: Credential) -> tuple[str, ...]:
    """The credential's `allowed_hosts` (a comma list a session's exchange sets); empty means no limit."""
    raw = getattr(getattr(credential, "strategy", None), "config", {}).get("allowed_hosts")
    if not isinstance(raw, str):
        return ()
    return tuple(h for h in (_normalize(part) for part in raw.split(",")) if h != "")


def host_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Whether `host` is an exact name of `patterns`, or a real subdomain of a `*.example.com` pattern
    (`a.example.com`, `a.b.example.com`; never `example.com` itself or a name with an empty label)."""
    name = _normalize(host)
    if name == "" or "" in name.split("."):
        return False
    for raw in patterns:
        pattern = _normalize(raw)
        if pattern.startswith("*."):
            if name.endswith(pattern[1:]) and len(name) > len(pattern) - 1:
                return True
        elif pattern == name:
            return True
    return False


def check_host_allowed(url: str, credential: Credential) -> None:
    """Refuses, before anything is sent, a URL outside the credential's `allowed_hosts` (`host_not_allowed`)."""
    hosts = allowed_hosts_of(credential)
    if hosts and not host_allowed(urlsplit(url).hostname or "", hosts):
        raise host_not_allowed(urlsplit(url).hostname or "", hosts)


def host_not_allowed(host: str, hosts: Sequence[str]) -> NexusError:
    """The error of a request to a host the session does not allow."""
    listed = ", ".join(f'"{h}"' for h in hosts)
    return NexusError(
        f'host_not_allowed: the credential may only be sent to {listed} (the session\'s allowed_hosts), not to "{host}"; nothing was sent',
        code="permission_denied", reason="host_not_allowed", metadata={"host": host},
    )


def _normalize(host: str) -> str:
    """Lower case, without surrounding space or the root's trailing dot."""
    name = host.strip().lower()
    return name[:-1] if name.endswith(".") else name
