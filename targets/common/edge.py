"""The HTTP edge every service shares: the bearer token, strict JSON bodies and
query parameters, and the 400 that names the bad field.

One rule for every body and query of the four services (docs/targets.md):

- A body is JSON of at most :data:`MAX_JSON_DEPTH` levels, without NaN or
  Infinity (Python's json reads both, and ``1e999`` as infinity: a limit of
  Infinity then comes back out as non-JSON), without integers longer than
  :data:`MAX_INT_DIGITS` digits (Python refuses to read 4,300 and raises an
  error no handler expects). It is parsed into a :class:`StrictBody` model:
  pydantic's strict mode, so a string or a boolean is no number and ``"no"``
  no flag (lax mode reads ``true`` as a quantity of 1 and ``"no"`` as False).
- A numeric query parameter is ASCII digits only (``str.isdigit`` and
  ``int`` also take ``١٢`` and ``²``), within its bounds; a flag is one of a
  few words; anything else is a 400.
- Every refusal is ``400 {"error", "field"}`` naming the field; a token that
  is missing, wrong or malformed (non-ASCII bytes, say) is a 401.
"""
from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import pydantic
from aiohttp import web

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_DEPTH = 32  # the deepest body any door takes (an Alertmanager notification) nests 4 levels
MAX_INT_DIGITS = 20  # every integer a service takes fits 64 bits (and a nanosecond time 19 digits)
MAX_QUERY_DIGITS = 19

M = TypeVar("M", bound=pydantic.BaseModel)


class StrictBody(pydantic.BaseModel):
    """Base of every request body: strict types, no NaN or Infinity, unknown keys refused (a model that
    must take fields other senders add sets ``extra="ignore"`` in its own ``model_config``)."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class BadJson(ValueError):
    """A body that is not the JSON a door takes; ``field`` is ``body`` (the message says why)."""

    field = "body"


def _no_constant(name: str) -> NoReturn:
    raise BadJson(f"body: {name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadJson(f"body: the number {text[:24]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadJson(f"body: the integer {text[:24]}... has more than {MAX_INT_DIGITS} digits")
    return int(text)


def too_deep(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects more than ``limit`` deep (brackets in strings not
    counted). Only a text with that many brackets at all is walked: the usual body costs two counts."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if text.count("[") + text.count("{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def load_json(raw: bytes) -> Any:
    """A body's JSON value under the rules of this module; :class:`BadJson` otherwise."""
    if too_deep(raw):
        raise BadJson(f"body: JSON nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_float, parse_int=_int)
    except BadJson:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        # JSONDecodeError is a ValueError; RecursionError cannot happen under the depth bound, but a
        # parser error must stay a 400 whatever it is
        raise BadJson("body is not valid JSON") from None


async def read_json(request: web.Request) -> Any:
    """The request's body as a JSON value (see :func:`load_json`); a 400 naming ``body`` otherwise."""
    try:
        return load_json(await request.read())
    except BadJson as exc:
        raise BadRequest(json_error(400, str(exc), field=exc.field)) from None


def validation_errors(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as ``[{"field": "alerts.0.startsAt", "error": "..."}, ...]``."""
    return [{"field": ".".join(str(p) for p in err["loc"]) or "body", "error": err["msg"]} for err in exc.errors()]


async def parse_json(request: web.Request, model: type[M]) -> M:
    """Parse the body into ``model`` (a :class:`StrictBody`); a 400 naming the first bad field otherwise."""
    raw = await read_json(request)
    if not isinstance(raw, dict):
        raise BadRequest(json_error(400, "body must be a JSON object", field="body"))
    try:
        return model.model_validate(raw, strict=True)
    except pydantic.ValidationError as exc:
        errors = validation_errors(exc)
        first = errors[0]
        raise BadRequest(
            json_error(400, f"{first['field']}: {first['error']}", field=first["field"], errors=errors)
        ) from None


def query_int(request: web.Request, name: str, *, default: int, lo: int = 0, hi: int = 2**63 - 1) -> int:
    """The query parameter ``name`` as an integer ``lo..hi`` written in ASCII digits; ``default`` when absent."""
    text = request.query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_QUERY_DIGITS or not lo <= int(text) <= hi:
        raise BadRequest(json_error(400, f"{name} must be a whole number {lo}..{hi} in ASCII digits, "
                                         f"got {text[:24]!r}", field=name))
    return int(text)


FLAG_WORDS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def query_flag(request: web.Request, name: str, *, default: bool = False) -> bool:
    """The query parameter ``name`` as a flag (1/0, true/false, yes/no); anything else is a 400, not False."""
    text = request.query.get(name)
    if text is None:
        return default
    value = FLAG_WORDS.get(text)
    if value is None:
        raise BadRequest(json_error(400, f"{name} must be one of {', '.join(FLAG_WORDS)}, got {text[:24]!r}",
                                    field=name))
    return value


def token_middleware(token: str, *, protect_reads: frozenset[str] = frozenset()) -> Callable:
    """401 for state-changing requests (and ``protect_reads`` paths) without the token.

    The header is compared as bytes in constant time; one that cannot be the
    token at all (non-ASCII, as aiohttp hands undecodable bytes on) is a 401
    like any wrong one, never an encoding error."""
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if request.method in MUTATING or request.path in protect_reads:
            given = request.headers.get("Authorization", "")
            if not given.isascii() or not hmac.compare_digest(given.encode("ascii"), expected):
                return web.json_response(
                    {"error": "unauthorized", "detail": "Authorization: Bearer <token> required"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await handler(request)

    return middleware


def json_error(status: int, error: str, *, field: str | None = None, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"error": error}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return web.json_response(body, status=status)


class BadRequest(Exception):
    """Raised by :func:`parse_json` and the query helpers with a ready 400 response."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.text)
        self.response = response


@web.middleware
async def bad_request_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
    """A :class:`BadRequest` is its response; a body over the app's ``client_max_size`` a 413 in the same
    JSON shape (aiohttp's own is plain text)."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return exc.response
    except web.HTTPRequestEntityTooLarge as exc:
        return json_error(413, f"body: {exc.text}", field="body")
