"""Wire and journal forms of order events: ExecutionReport fields, cents.

Kept apart from the engine so the engine reads as order logic; everything
here is on the per-order hot path, hence plain tuples and %-formatting.
"""
from __future__ import annotations

from .book import MARKET, SIDE_NAMES, Order

# ExecType (150) and OrdStatus (39) values.
EXEC_NEW = "0"
EXEC_TRADE = "F"
EXEC_CANCELED = "4"
EXEC_REJECTED = "8"
STATUS_NEW = "0"
STATUS_PARTIAL = "1"
STATUS_FILLED = "2"
STATUS_CANCELED = "4"
STATUS_REJECTED = "8"

STATUS_NAMES = {
    STATUS_NEW: "new",
    STATUS_PARTIAL: "partially_filled",
    STATUS_FILLED: "filled",
    STATUS_CANCELED: "canceled",
    STATUS_REJECTED: "rejected",
}


def fmt_px(cents: int | None) -> str | None:
    """Cents to the wire's decimal dollars (``1234`` → ``"12.34"``)."""
    if cents is None:
        return None
    return "%d.%02d" % divmod(cents, 100)


def dollars(cents: int | None) -> float | None:
    return None if cents is None else cents / 100


def parse_cents(text: str) -> int | None:
    """Decimal dollars on a 0.01 tick to cents; None when malformed or off tick."""
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if not whole.isdigit() or len(frac) > 2 or (frac and not frac.isdigit()):
        return None
    return int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)


def exec_report_body(
    order: Order,
    exec_id: str,
    exec_type: str,
    status: str,
    last_qty: int,
    last_px: int | None,
    text: str | None,
    cl_ord_id: str | None,
    orig_cl_ord_id: str | None,
    transact_time: str,
) -> str:
    """The ExecutionReport body after the header, as one SOH-terminated string.

    Built with one %-format instead of a list of tag/value pairs: at a
    runaway's rate, encoding reports is a third of the exchange's CPU.
    """
    cum = order.cum_qty
    price = order.price
    return "37=%s\x0117=%s\x0111=%s\x01%s1=%s\x0155=%s\x0154=%d\x0138=%d\x01%s40=%d\x0159=%d\x01150=%s\x0139=%s\x01" \
        "32=%d\x0131=%s\x0114=%d\x01151=%d\x016=%s\x01%s60=%s\x01" % (
            order.order_id, exec_id, cl_ord_id or order.cl_ord_id,
            "41=%s\x01" % orig_cl_ord_id if orig_cl_ord_id else "",
            order.firm, order.symbol, order.side, order.qty,
            "44=%d.%02d\x01" % divmod(price, 100) if price is not None else "",
            order.ord_type, order.tif, exec_type, status,
            last_qty, "%d.%02d" % divmod(last_px, 100) if last_px is not None else "0",
            cum, order.leaves, "%.4f" % (order.notional / cum / 100) if cum else "0",
            "58=%s\x01" % text if text else "", transact_time,
        )


def journal_record(order: Order, kind: str, ts_ns: int, status: str) -> dict:
    return {
        "ts_ns": ts_ns,
        "kind": kind,
        "session": order.session,
        "firm": order.firm,
        "cl_ord_id": order.cl_ord_id,
        "order_id": order.order_id,
        "symbol": order.symbol,
        "side": SIDE_NAMES.get(order.side),
        "qty": order.qty,
        "price": None if order.ord_type == MARKET or order.price is None else order.price / 100,
        "status": status,
    }
