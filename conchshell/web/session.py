"""Signed rater sessions: the cookie holds the rater's opaque id and an HMAC-SHA256 of it.

    cookie = <rater id> "." <base64url(HMAC-SHA256(key, rater id))>

The key is random, kept in the ratings database (`ratings.create`), so sessions survive a restart and
nobody can claim another rater's id without it. The rater's name stays in the database, never in the
cookie, so any Unicode name works (cookies are Latin-1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

COOKIE = "conchshell_rater"
MAX_AGE = 30 * 86400


def sign(rater: str, key: bytes) -> str:
    """rater id (URL-safe ASCII) → the cookie value."""
    mac = hmac.new(key, rater.encode("ascii"), hashlib.sha256).digest()
    return f"{rater}.{base64.urlsafe_b64encode(mac).decode('ascii').rstrip('=')}"


def verify(cookie: str | None, key: bytes) -> str | None:
    """The cookie value → the rater id it signs, or None when missing, malformed or forged."""
    if not cookie or "." not in cookie:
        return None
    rater = cookie.rsplit(".", 1)[0]
    try:
        expected = sign(rater, key)
    except UnicodeEncodeError:
        return None
    return rater if hmac.compare_digest(expected.encode(), cookie.encode("utf-8", "replace")) else None
