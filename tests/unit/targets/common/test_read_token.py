"""The admin token: POWERPEG_TOKEN, else the file POWERPEG_TOKEN_FILE names (a Swarm secret)."""
from __future__ import annotations

import pytest

from powerpeg.targets.common.service import read_token


def test_environment_token_is_used_when_set(monkeypatch, tmp_path) -> None:
    """POWERPEG_TOKEN wins over a token file."""
    (tmp_path / "t").write_text("from-file\n")
    monkeypatch.setenv("POWERPEG_TOKEN", "from-env")
    monkeypatch.setenv("POWERPEG_TOKEN_FILE", str(tmp_path / "t"))
    assert "from-env" == read_token()


def test_token_file_is_read_without_its_newline(monkeypatch, tmp_path) -> None:
    """Without POWERPEG_TOKEN, the file's content (stripped) is the token."""
    (tmp_path / "t").write_text("from-file\n")
    monkeypatch.delenv("POWERPEG_TOKEN", raising=False)
    monkeypatch.setenv("POWERPEG_TOKEN_FILE", str(tmp_path / "t"))
    assert "from-file" == read_token()


def test_unreadable_token_file_exits_naming_it(monkeypatch, tmp_path) -> None:
    """A token file that cannot be read is a start error naming the variable and the path."""
    monkeypatch.delenv("POWERPEG_TOKEN", raising=False)
    monkeypatch.setenv("POWERPEG_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SystemExit) as exc:
        read_token()
    assert f"POWERPEG_TOKEN_FILE={tmp_path / 'missing'}" in str(exc.value)


def test_neither_set_exits_saying_so(monkeypatch) -> None:
    """No token at all: the service refuses to start."""
    monkeypatch.delenv("POWERPEG_TOKEN", raising=False)
    monkeypatch.delenv("POWERPEG_TOKEN_FILE", raising=False)
    with pytest.raises(SystemExit) as exc:
        read_token()
    assert "neither POWERPEG_TOKEN nor POWERPEG_TOKEN_FILE is set" in str(exc.value)
