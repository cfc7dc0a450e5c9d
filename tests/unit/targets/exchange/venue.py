"""An engine with two symbols, a journal and recorded sessions: the exchange's core without FIX."""
from __future__ import annotations

from pathlib import Path

from powerpeg.targets.exchange.book import DAY, LIMIT
from powerpeg.targets.exchange.core import Engine, SessionState
from powerpeg.targets.exchange.journal import Journal, read_records
from powerpeg.targets.exchange.symbols import Symbol


class Recorder:
    """Stands in for a FIX session: keeps what the engine sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[int, object]]] = []

    def send_body(self, msg_type: str, body: str, sending_time: str | None = None) -> None:
        fields = {}
        for item in body.rstrip("\x01").split("\x01"):
            tag, _, value = item.partition("=")
            textual = tag in ("11", "17", "37", "41", "39", "150")
            fields[int(tag)] = int(value) if value.isdigit() and not textual else value
        self.sent.append((msg_type, fields))

    def reports(self) -> list[dict[int, object]]:
        return [f for t, f in self.sent if t == "8"]


class Venue:
    """An engine with two symbols, a journal and recorded sessions."""

    def __init__(self, tmp_path: Path) -> None:
        self.journal = Journal(tmp_path / "journal.ndjson")
        self.engine = Engine([Symbol("AAA", 1000), Symbol("BBB", 5000)], self.journal)
        self.outs: dict[str, Recorder] = {}

    def login(self, comp_id: str, *, cod: bool = True) -> SessionState:
        self.outs[comp_id] = Recorder()
        return self.engine.attach(comp_id, self.outs[comp_id], cod=cod)

    def order(self, st: SessionState, cl: str, side: int, qty: int, price: int | None, *, symbol: str = "AAA",
              firm: str | None = None, ord_type: int = LIMIT, tif: int = DAY):
        return self.engine.new_order(st, cl, firm or st.comp_id, symbol, side, qty, price, ord_type, tif)

    def records(self) -> list[dict]:
        self.journal.flush()
        return read_records(self.journal.path)
