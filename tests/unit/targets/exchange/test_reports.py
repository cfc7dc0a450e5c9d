"""Wire forms: prices in cents and decimal dollars, and the ExecutionReport body (C and Python)."""
from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from powerpeg.targets.exchange.book import BUY, DAY, IOC, LIMIT, MARKET, SELL, Order
from powerpeg.targets.exchange.reports import exec_report_body, fmt_px, parse_cents, py_exec_report_body
from tests.unit.targets.fix.speedups import require


@pytest.mark.parametrize(("text", "cents"),
                         [("10", 1000), ("10.5", 1050), ("10.05", 1005), ("0.01", 1), ("12.500", 1250)])
def test_decimal_dollars_parse_to_cents(text: str, cents: int) -> None:
    """Prices on the 0.01 tick become integer cents."""
    assert cents == parse_cents(text)


@pytest.mark.parametrize("text", ["10.001", "-1", "abc", "1e3", "", "nan", "1.2.3"])
def test_malformed_or_off_tick_price_is_none(text: str) -> None:
    """Anything not a non-negative decimal on the tick is refused."""
    assert None is parse_cents(text)


def test_cents_format_as_two_decimals() -> None:
    """1005 cents is 10.05 on the wire."""
    assert "10.05" == fmt_px(1005)


def _outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", (type(exc), str(exc))


def _reports(rng: random.Random) -> list[tuple]:
    """exec_report_body's arguments as the engine passes them, and ones it never does."""
    texts = [None, "", "canceled: user", "unknown symbol XYZ", "é", "x" * 300]
    ids = ["c1", "", "KNIGHT-u7-12.3", "a=b", "x" * 64, "ü"]
    ints = [0, 1, 7, 100, 99_999_999, -1, -250, 2**53, 2**63, 2**70, True]
    out = []
    for _ in range(3000):
        order = Order(str(rng.randrange(1, 10**9)), rng.choice(ids[:5]), "S", rng.choice(["KNIGHT", "MM", "é"]),
                      rng.choice(["ABC", "ZZZZ", "é"]), rng.choice([BUY, SELL, 3]), rng.choice(ints),
                      rng.choice([None, 1, 99, 100, 12345, -1, -150, 2**62, 2**64]), rng.choice([MARKET, LIMIT]),
                      rng.choice([DAY, IOC]))
        order.cum_qty = rng.choice([0, 0, 1, 50, 100, -3, 2**53 + 1])
        order.leaves = rng.choice(ints)
        order.notional = rng.choice([0, 1, 12345, 7 * 10**9, -99, 2**53, 2**53 + 1, 2**80])
        last_px = rng.choice([None, None, 1, 12345, -5, 2**64])
        out.append((order, f"E{rng.randrange(10**6)}", rng.choice(["0", "F", "4", "5", "8", "I"]),
                    rng.choice(["0", "1", "2", "4", "8"]), rng.choice(ints), last_px, rng.choice(texts),
                    rng.choice([None, *ids]), rng.choice([None, *ids]), rng.choice(["20240101-00:00:00.000", "é"])))
    return out


@pytest.fixture
def c_body(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The C extension, with the reference it hands back to (reports.py sets it only when it uses the
    C body: not with POWERPEG_SPEEDUPS=0)."""
    c = require("powerpeg.targets.fix._speedups")  # a skip saying why where there is no compiler (a failure in CI)
    assert hasattr(c, "exec_report_body"), "powerpeg.targets.fix._speedups predates exec_report_body: rebuild it"
    monkeypatch.setattr(c, "exec_report_body_reference", py_exec_report_body, raising=False)
    return c


def test_the_c_execution_report_body_writes_what_the_python_one_writes(c_body: Any) -> None:
    """Where the C speedups are built, every body (or error) is the Python reference's, byte for byte: the
    usual values written in C, the rest (non-ASCII, ints past 64 bits, floats past 2**53) handed back."""
    c = c_body
    for args in _reports(random.Random(13)):
        assert _outcome(py_exec_report_body, *args) == _outcome(c.exec_report_body, *args), args


def test_the_c_execution_report_body_takes_other_objects_as_the_python_one(c_body: Any) -> None:
    """A subclass of Order, an object with the same attributes, one without them, an Order with a slot
    never set, a class changed after its first report: the same as the reference."""
    c = c_body

    class Sub(Order):
        __slots__ = ()

    class Changed(Order):
        __slots__ = ()

    def order(cls: type = Order) -> Order:
        o = cls("1", "c1", "S", "F", "ABC", BUY, 100, 123)
        o.cum_qty, o.notional = 40, 40 * 123
        return o

    args = ("E1", "F", "1", 40, 123, None, None, None, "20240101-00:00:00.000")
    plain = SimpleNamespace(**{name: getattr(order(), name) for name in Order.__slots__})
    unset = Order.__new__(Order)
    for subject in (order(), order(Sub), plain, object(), unset, order(), order(Changed)):
        assert _outcome(py_exec_report_body, subject, *args) == _outcome(c.exec_report_body, subject, *args)
    Changed.side = property(lambda self: SELL, lambda self, value: None)  # type: ignore[assignment]
    assert "54=2\x01" in c.exec_report_body(order(Changed), *args)
    assert _outcome(py_exec_report_body, order(Changed), *args) == _outcome(c.exec_report_body, order(Changed), *args)


def test_the_engine_uses_the_c_body_where_it_is_on() -> None:
    """exec_report_body is the C one unless POWERPEG_SPEEDUPS=0 or no extension was built."""
    from powerpeg.targets.fix.codec import SPEEDUPS
    c = require("powerpeg.targets.fix._speedups")
    expected = c.exec_report_body if SPEEDUPS and hasattr(c, "exec_report_body") else py_exec_report_body
    assert expected is exec_report_body
    if expected is not py_exec_report_body:
        assert py_exec_report_body is c.exec_report_body_reference
