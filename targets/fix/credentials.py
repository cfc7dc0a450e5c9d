"""Logon credentials: Username(553) and Password(554) on a FIX Logon, checked by
an acceptor against its table, sent by an initiator.

The acceptor's table (the exchange's ``--credentials FILE``, or the same JSON
in ``POWERPEG_FIX_CREDENTIALS`` for a container) holds a password per CompID,
valid on every door, and per firm the CompIDs allowed to receive its drop
copy::

    {"passwords": {"ROUTER-1": "...", "KNIGHT": "..."},
     "drop_copy": {"KNIGHT": ["KNIGHT", "KNIGHT-SURVEILLANCE"]},
     "accounts": {"KNIGHT": ["ROUTER-1", "KNIGHT"]}}

``accounts`` (optional) says, per firm, which order-entry CompIDs may name it in Account(1): with
it, an order for an account its session is not listed for is rejected (a member cannot book
trades to another firm). Without it any Account is accepted, as before.

A Logon is accepted when Username is its SenderCompID and Password that
CompID's; anything else is refused with the one text :data:`INVALID` (which
part was wrong is for the venue's log, not for whoever is trying). An
initiator reads its own password from a file (``--fix-password-file``) or
``POWERPEG_FIX_PASSWORD``: never argv, which ``ps`` shows.
"""
from __future__ import annotations

import hmac
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .codec import FixMessage, Tag

Username = 553
Password = 554
INVALID = "invalid credentials"
CREDENTIALS_ENV = "POWERPEG_FIX_CREDENTIALS"
PASSWORD_ENV = "POWERPEG_FIX_PASSWORD"
MAX_COMP_ID = 64
MAX_PASSWORD = 128


class CredentialsError(ValueError):
    """A credentials table or password that cannot be used; the message says where and why."""


def _text(value: Any, what: str, limit: int) -> str:
    """A CompID or password: ASCII without SOH or '=' troubles, 1..limit characters."""
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isascii() or not value.isprintable():
        raise CredentialsError(f"{what} must be printable ASCII of 1 to {limit} characters")
    return value


def _firm_lists(raw: dict[Any, Any], section: str, passwords: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """(firm, CompID) of a ``{firm: [CompID, ...]}`` section, every CompID one with a password."""
    for firm, comp_ids in raw.items():
        _text(firm, "a firm", MAX_COMP_ID)
        if not isinstance(comp_ids, list):
            raise CredentialsError(f"{section}.{firm}: a list of CompIDs")
        for comp_id in comp_ids:
            if comp_id not in passwords:
                raise CredentialsError(f"{section}.{firm}: {comp_id!r} has no password")
            yield firm, comp_id


@dataclass(frozen=True)
class Credentials:
    """Who may log on: ``passwords`` CompID → password; ``drop_copy`` subscriber CompID → its firm;
    ``accounts`` order-entry CompID → the firms it may trade for (None: no such table, any)."""

    passwords: Mapping[str, str]
    drop_copy: Mapping[str, str]
    accounts: Mapping[str, frozenset[str]] | None = None

    @classmethod
    def from_json(cls, data: Any) -> Credentials:
        if not isinstance(data, dict) or set(data) - {"passwords", "drop_copy", "accounts"}:
            raise CredentialsError('credentials: a JSON object with "passwords", "drop_copy" and optionally '
                                   '"accounts"')
        raw_passwords, raw_drop = data.get("passwords", {}), data.get("drop_copy", {})
        if not isinstance(raw_passwords, dict) or not isinstance(raw_drop, dict):
            raise CredentialsError('credentials: "passwords" and "drop_copy" are JSON objects')
        passwords = {_text(c, "a CompID", MAX_COMP_ID): _text(p, f"the password of {c}", MAX_PASSWORD)
                     for c, p in raw_passwords.items()}
        subscribers: dict[str, str] = {}
        for firm, comp_id in _firm_lists(raw_drop, "drop_copy", passwords):
            if subscribers.setdefault(comp_id, firm) != firm:
                raise CredentialsError(f"drop_copy: {comp_id} is listed for {subscribers[comp_id]} and {firm}")
        return cls(passwords, subscribers, cls._accounts(data.get("accounts"), passwords))

    @staticmethod
    def _accounts(raw: Any, passwords: Mapping[str, str]) -> dict[str, frozenset[str]] | None:
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise CredentialsError('credentials: "accounts" is a JSON object (firm → list of CompIDs)')
        entitled: dict[str, set[str]] = {}
        for firm, comp_id in _firm_lists(raw, "accounts", passwords):
            entitled.setdefault(comp_id, set()).add(firm)
        return {comp_id: frozenset(firms) for comp_id, firms in entitled.items()}

    @classmethod
    def read(cls, text: str, source: str) -> Credentials:
        try:
            return cls.from_json(json.loads(text))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and CredentialsError are ValueErrors
            raise CredentialsError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: Path | None) -> Credentials | None:
        """From ``path``, else from :data:`CREDENTIALS_ENV`; None when neither is given (an open venue)."""
        if path is not None:
            try:
                return cls.read(path.read_text(encoding="utf-8"), str(path))
            except (OSError, UnicodeDecodeError) as exc:
                raise CredentialsError(f"{path}: {exc}") from None
        text = os.environ.get(CREDENTIALS_ENV, "")
        return cls.read(text, CREDENTIALS_ENV) if text else None

    def refusal(self, msg: FixMessage) -> str | None:
        """Why this Logon's credentials are not accepted (for the log), or None."""
        fields = msg.fields
        comp_id, user, password = fields.get(Tag.SenderCompID, ""), fields.get(Username), fields.get(Password)
        if user is None or password is None:
            return "no Username(553) or Password(554)"
        expected = self.passwords.get(comp_id)
        # compared in constant time even for an unknown CompID, so timing tells nothing either
        matches = hmac.compare_digest(password.encode("ascii", "replace"), (expected or "\0").encode("ascii"))
        if expected is None:
            return f"unknown CompID {comp_id}"
        if user != comp_id:
            return "Username(553) is not the SenderCompID(49)"
        return None if matches else "wrong password"

    def accounts_of(self, comp_id: str) -> frozenset[str] | None:
        """The firms ``comp_id`` may name in Account(1); None: the table has no ``accounts`` (any)."""
        return None if self.accounts is None else self.accounts.get(comp_id, frozenset())

    def firm_of(self, comp_id: str) -> str | None:
        """The firm whose drop copy ``comp_id`` may receive; None: none."""
        return self.drop_copy.get(comp_id)


def read_password(path: Path | None) -> str | None:
    """An initiator's own password: the file's first line, else :data:`PASSWORD_ENV`; None when neither."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"{path}: {exc}") from None
        return _text(text, f"the password in {path}", MAX_PASSWORD)
    text = os.environ.get(PASSWORD_ENV, "")
    return _text(text, PASSWORD_ENV, MAX_PASSWORD) if text else None


def logon_fields(comp_id: str, password: str | None) -> list[tuple[int, object]]:
    """Username(553) and Password(554) for a Logon as ``comp_id``; none without a password."""
    return [] if password is None else [(Username, comp_id), (Password, password)]
