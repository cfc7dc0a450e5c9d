"""The logged-in web session of `powerpeg ui`, as far as it can be told without Flask.

Pure (no Locust, no Flask, no aiohttp): the Locust process (``chaos_web``)
decides with it which credentials a ``POST /chaos/...`` is forwarded with, and
the control API (``api``) reads the operator's name from it; the unit tests
check it without importing Locust (whose import monkey-patches the process).

A person logs in on Locust's login page (``--web-login``) with an operator
name and the fleet's admin token. Their session then stands in for the token:
the Locust process, which holds the token, adds ``Authorization: Bearer`` and
the operator's name (:data:`OPERATOR_HEADER`) to what it forwards. A request
without a session is forwarded with its own Authorization header, if any.
"""
from __future__ import annotations

import urllib.parse

OPERATOR_HEADER = "X-Powerpeg-Operator"
MAX_NAME = 64


def operator_name(raw: str | None) -> str | None:
    """The operator's name as typed at login, trimmed; None when empty, too long or not printable."""
    name = (raw or "").strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        return None
    return name


def header_value(name: str) -> str:
    """The name as an HTTP header value: percent-encoded, so any name is one line of ASCII."""
    return urllib.parse.quote(name, safe="")


def name_from_header(value: str | None) -> str | None:
    """The operator's name from :data:`OPERATOR_HEADER`, or None."""
    return operator_name(urllib.parse.unquote(value)) if value else None


def same_origin(origin: str | None, host_url: str) -> bool:
    """Whether a request with this ``Origin`` header comes from the web app's own pages.

    Browsers send ``Origin`` with every POST; a page of another origin
    (another port of 127.0.0.1 included) must not act with the session's
    cookie. A request without ``Origin`` is not a browser's cross-site one.
    """
    if origin is None:
        return True
    mine = urllib.parse.urlsplit(host_url)
    theirs = urllib.parse.urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (mine.scheme, mine.netloc)


def forwarded_credentials(operator: str | None, authorization: str | None,
                          token: str) -> tuple[str | None, str | None]:
    """(Authorization, operator name) to forward a POST with.

    A logged-in operator's request carries the fleet's token, added here;
    any other request carries only its own Authorization header (none: the
    control API answers 401).
    """
    if operator:
        return f"Bearer {token}", operator
    return authorization, None
