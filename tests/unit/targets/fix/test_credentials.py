"""FIX Logon credentials: the acceptor's table and its answer, the initiator's password."""
from __future__ import annotations

from pathlib import Path

import pytest

from powerpeg.targets.fix.codec import FixMessage
from powerpeg.targets.fix.credentials import (
    CREDENTIALS_ENV, PASSWORD_ENV, Credentials, CredentialsError, logon_fields, read_password,
)

TABLE = {"passwords": {"ROUTER-1": "pw1", "KNIGHT": "pwk", "SURV": "pws"}, "drop_copy": {"KNIGHT": ["KNIGHT", "SURV"]}}


def logon(comp_id: str, **fields: str) -> FixMessage:
    tags = {"username": 553, "password": 554}
    return FixMessage("A", {49: comp_id, **{tags[k]: v for k, v in fields.items()}})


@pytest.mark.parametrize(("msg", "why"), [
    (logon("ROUTER-1", username="ROUTER-1", password="pw1"), None),
    (logon("ROUTER-1", username="ROUTER-1", password="pwk"), "wrong password"),
    (logon("ROUTER-1", username="KNIGHT", password="pw1"), "Username(553) is not the SenderCompID(49)"),
    (logon("ROUTER-1", password="pw1"), "no Username(553) or Password(554)"),
    (logon("ROUTER-1", username="ROUTER-1"), "no Username(553) or Password(554)"),
    (logon("NOBODY", username="NOBODY", password="pw1"), "unknown CompID NOBODY"),
])
def test_refusal_says_which_part_is_wrong_for_the_log(msg: FixMessage, why: str | None) -> None:
    """The reason is for the venue's log; the client only ever hears "invalid credentials"."""
    assert why == Credentials.from_json(TABLE).refusal(msg)


def test_drop_copy_subscribers_map_to_their_firm() -> None:
    """A firm's listed subscribers receive its drop copy; others none."""
    table = Credentials.from_json(TABLE)
    assert ("KNIGHT", "KNIGHT", None) == (table.firm_of("KNIGHT"), table.firm_of("SURV"), table.firm_of("ROUTER-1"))


def test_accounts_say_which_firms_a_comp_id_may_trade_for() -> None:
    """With an ``accounts`` table: the firms listing the CompID (none for an unlisted one); without: None (any)."""
    table = Credentials.from_json({**TABLE, "accounts": {"KNIGHT": ["ROUTER-1", "KNIGHT"], "OTHER": ["ROUTER-1"]}})
    assert (frozenset({"KNIGHT", "OTHER"}), frozenset({"KNIGHT"}), frozenset(), None) == (
        table.accounts_of("ROUTER-1"), table.accounts_of("KNIGHT"), table.accounts_of("SURV"),
        Credentials.from_json(TABLE).accounts_of("ROUTER-1"))


@pytest.mark.parametrize(("data", "message"), [
    ([], "a JSON object"),
    ({"passwords": {"A": ""}}, "password of A"),
    ({"passwords": {"A": "p\x01"}}, "password of A"),
    ({"passwords": {"A": "p"}, "drop_copy": {"F": ["B"]}}, "'B' has no password"),
    ({"passwords": {"A": "p"}, "drop_copy": {"F": ["A"], "G": ["A"]}}, "A is listed for F and G"),
    ({"passwords": {"A": "p"}, "extra": 1}, "a JSON object"),
    ({"passwords": {"A": "p"}, "accounts": ["A"]}, '"accounts" is a JSON object'),
    ({"passwords": {"A": "p"}, "accounts": {"F": "A"}}, "accounts.F: a list of CompIDs"),
    ({"passwords": {"A": "p"}, "accounts": {"F": ["B"]}}, "accounts.F: 'B' has no password"),
])
def test_a_table_that_cannot_be_used_is_refused_saying_why(data: object, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        Credentials.from_json(data)


def test_load_reads_the_file_else_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--credentials FILE first, $POWERPEG_FIX_CREDENTIALS next, else None (an open venue)."""
    monkeypatch.delenv(CREDENTIALS_ENV, raising=False)
    none = Credentials.load(None)
    monkeypatch.setenv(CREDENTIALS_ENV, '{"passwords": {"E": "pe"}}')
    env = Credentials.load(None)
    path = tmp_path / "c.json"
    path.write_text('{"passwords": {"F": "pf"}}')
    assert (None, {"E": "pe"}, {"F": "pf"}) == (none, dict(env.passwords), dict(Credentials.load(path).passwords))


def test_an_unreadable_table_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="c.json"):
        Credentials.load(tmp_path / "c.json")


def test_read_password_from_a_file_else_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first line of --fix-password-file, else $POWERPEG_FIX_PASSWORD, else None (no 553/554 sent)."""
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    none = read_password(None)
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    path = tmp_path / "pw"
    path.write_text("from-file\n")
    assert (None, "from-env", "from-file") == (none, read_password(None), read_password(path))


def test_logon_fields_are_username_and_password_only_with_a_password() -> None:
    assert ([], [(553, "R"), (554, "p")]) == (logon_fields("R", None), logon_fields("R", "p"))
