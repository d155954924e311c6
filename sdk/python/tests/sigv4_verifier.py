"""An AWS Signature Version 4 verifier, written from AWS's specification for these tests and sharing no code
with nexus_sdk.sigv4: it rebuilds the canonical request from what a server received on the wire (request
line, headers, body bytes) and checks the signature, the scope, the clock and the body hash."""
from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import unquote_to_bytes

from stand_in import Seen

_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/([^/,]+)/aws4_request, ?"
                   r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$")
_SPACES = re.compile(r"\s+")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    problem: str = ""
    access_key: str = ""
    region: str = ""
    service: str = ""
    signed_headers: tuple[str, ...] = ()


def _encode(raw: bytes) -> str:
    return "".join(chr(b) if b in _UNRESERVED else "%{:02X}".format(b) for b in raw)


def verify(seen: Seen, secret_for: Callable[[str], Optional[str]], now: Optional[float] = None) -> Verdict:
    match = _AUTH.match(seen.headers.get("authorization", ""))
    if match is None:
        return Verdict(False, "no SigV4 Authorization header")
    access_key, date, region, service, signed_list, signature = match.groups()
    secret = secret_for(access_key)
    if secret is None:
        return Verdict(False, "unknown access key")
    amz_date = seen.headers.get("x-amz-date", "")
    if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or not amz_date.startswith(date):
        return Verdict(False, "bad x-amz-date")
    signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    if abs((time.time() if now is None else now) - signed_at) > 300:
        return Verdict(False, "request time too skewed")
    signed = signed_list.split(";")
    for required in ("host", "x-amz-date", "x-amz-content-sha256"):
        if required not in signed:
            return Verdict(False, f"{required} is not signed")
    payload_hash = seen.headers.get("x-amz-content-sha256", "")
    if payload_hash != hashlib.sha256(seen.body).hexdigest():
        return Verdict(False, "x-amz-content-sha256 does not match the body received")

    path, _, query = seen.target.partition("?")
    # Not S3: the path as it arrived (encoded once) is encoded again, segment by segment.
    canonical_uri = "/".join(_encode(segment.encode("utf-8")) for segment in path.split("/"))
    pairs = []
    for item in (p for p in query.split("&") if p):
        name, _, value = item.partition("=")
        pairs.append((_encode(unquote_to_bytes(name)), _encode(unquote_to_bytes(value))))
    canonical_query = "&".join(f"{n}={v}" for n, v in sorted(pairs))
    lines = []
    for name in signed:
        values = seen.headers.get_all(name) or []
        lines.append(name + ":" + ",".join(_SPACES.sub(" ", v.strip()) for v in values) + "\n")
    canonical = "\n".join([seen.method.upper(), canonical_uri, canonical_query, "".join(lines), signed_list, payload_hash])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    key = b"AWS4" + secret.encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), "sha256").digest()
    expected = hmac.new(key, to_sign.encode("utf-8"), "sha256").hexdigest()
    if not hmac.compare_digest(expected, signature):
        return Verdict(False, "signature mismatch")
    return Verdict(True, access_key=access_key, region=region, service=service, signed_headers=tuple(signed))
