"""The shapes of the exchange journal's records: one TypedDict per ``kind``.

The journal (``journal.py``) is the ground truth the harness measures from,
so these are its contract (docs/targets.md, "Journal"), written by the
engine (``core.py``, built in ``reports.py``) and read back by
``powerpeg.harness.measure`` and ``powerpeg.harness.watch``. Every record has the same eleven
leading fields, in this order: ``ts_ns``, ``kind``, ``session``, ``firm``,
``cl_ord_id``, ``order_id``, ``symbol``, ``side``, ``qty``, ``price``,
``status`` (null where they do not apply); a kind adds its own after them.
``kind`` tells them apart, so a reader narrows :data:`JournalRecord` by
testing it. The ``_...Fields`` classes only hold what several kinds share.

Fields marked ``NotRequired`` are the per-field form of ``total=False``:
this exchange always writes them, but they are not part of the documented
contract (or came later), so a reader must not count on them (``.get``).

Plain typing only: importing this module imports nothing else of targets/.
(No ``from __future__ import annotations``: with it, Python 3.11 cannot see
``NotRequired`` when it builds ``__required_keys__``.)
"""
from typing import Literal, NotRequired, TypedDict

Side = Literal["buy", "sell"]
CancelReason = Literal["user", "kill", "disconnect", "ioc", "market", "mass"]
KillScope = Literal["firm", "session"]


class _OrderFields(TypedDict):
    """The order as it stands, on every order event's record.

    ``price`` is the limit in decimal dollars, null for a market order.
    Market maker orders are journaled too, with ``firm`` and ``session`` ``MM``.
    """

    ts_ns: int
    session: str
    firm: str
    cl_ord_id: str
    order_id: str
    symbol: str
    side: Side
    qty: int
    price: float | None


class AcceptedRecord(_OrderFields):
    """An order entered the exchange (working, or queued before the open)."""

    kind: Literal["accepted"]
    status: Literal["new"]


class RejectedRecord(_OrderFields):
    """An order refused at entry (unknown symbol, kill switch, pre-open reject, duplicate ClOrdID).

    ``text`` is the reason, the same as the ExecutionReport's 58.
    """

    kind: Literal["rejected"]
    status: Literal["rejected"]
    text: str


class FillRecord(_OrderFields):
    """One side of one match: a match writes two, maker first, sharing ``match_id``.

    ``exec_qty`` at ``exec_px`` (dollars); ``cum_qty`` and ``leaves_qty``
    are the order's after this execution; ``status`` is ``filled`` when
    nothing is left, else ``partially_filled``; ``liquidity`` says which
    side of the match the order was.
    """

    kind: Literal["fill"]
    status: Literal["filled", "partially_filled"]
    exec_qty: int
    exec_px: float
    cum_qty: int
    leaves_qty: int
    match_id: str
    liquidity: NotRequired[Literal["maker", "taker"]]


class CanceledRecord(_OrderFields):
    """What was left of an order is cancelled; ``reason`` says who or what did it.

    ``cum_qty`` is what the order had executed by then and ``canceled_qty``
    what the cancel took off (its leaves).
    """

    kind: Literal["canceled"]
    status: Literal["canceled"]
    reason: CancelReason
    cum_qty: NotRequired[int]
    canceled_qty: NotRequired[int]


class ReplacedRecord(_OrderFields):
    """An OrderCancelReplaceRequest (35=G) was accepted: the order now stands as this record says.

    ``cl_ord_id``, ``qty`` and ``price`` are the order's new ones (its
    ``order_id`` never changes); ``orig_cl_ord_id``, ``prev_qty`` and
    ``prev_price`` what it had before. ``cum_qty`` and ``leaves_qty`` are
    the order's after the replace: ``leaves_qty`` 0 means it is done (a
    quantity replaced to no more than had executed: ``qty`` is then
    ``cum_qty``, the rest cancelled, ``status`` filled). ``requeued`` says it
    lost its time priority (a price change or a quantity increase: it went
    to the back of its price level, or executed at once when the new price
    crossed); a quantity decrease at the same price keeps it. Fills and
    cancels after it name the order by the new ``cl_ord_id``.
    """

    kind: Literal["replaced"]
    status: Literal["new", "partially_filled", "filled"]
    orig_cl_ord_id: str
    prev_qty: int
    prev_price: float | None
    cum_qty: int
    leaves_qty: int
    requeued: bool


class _AdminFields(TypedDict):
    """A market or kill switch event: the order fields are there, and null."""

    ts_ns: int
    cl_ord_id: None
    order_id: None
    symbol: None
    side: None
    qty: None
    price: None
    status: None


class OpenRecord(_AdminFields):
    """The market opened (the orders queued before it are executed right after)."""

    kind: Literal["open"]
    session: None
    firm: None


class _SwitchFields(_AdminFields):
    """A kill switch event for a firm or a session (``scope``, ``id``).

    ``firm`` (scope firm) or ``session`` (scope session) repeats ``id``; the
    other is null.
    """

    session: str | None
    firm: str | None
    scope: KillScope
    id: str


class KillRecord(_SwitchFields):
    """The kill switch was pulled: new orders of the firm or session are rejected until reinstated.

    ``cancelled`` counts the working orders it cancelled (each also has its
    ``canceled`` record, reason ``kill``); ``by`` is who pulled it, as the
    ``POST /kill`` body said (``monitor``, ``powerpeg-abort``, ...), null
    when it did not say (and absent from an exchange older than the field).
    """

    kind: Literal["kill"]
    cancelled: NotRequired[int]
    by: NotRequired[str | None]


class ReinstateRecord(_SwitchFields):
    """The kill switch was released; ``was_active`` says whether it was pulled at all."""

    kind: Literal["reinstate"]
    was_active: NotRequired[bool]


class MassCancelRecord(TypedDict):
    """An OrderMassCancelRequest (35=q) was accepted; each order it cancelled has its own
    ``canceled`` record (reason ``mass``) right after this one.

    ``session`` is the CompID that asked, ``cl_ord_id`` the request's
    ClOrdID; ``scope`` ``session`` (that session's orders; ``id`` its
    CompID) or ``firm`` (every session's orders of the firm ``id``);
    ``firm`` is the firm of the scope (for a session scope, the session's
    firm); ``request_type`` 1 (one ``symbol``) or 7 (all); ``side`` the
    side it was limited to, or null; ``cancelled`` how many orders it
    cancelled. ``order_id``, ``qty``, ``price`` and ``status`` are null.
    Unlike the kill switch it blocks nothing: new orders are accepted.
    """

    ts_ns: int
    kind: Literal["mass_cancel"]
    session: str
    firm: str
    cl_ord_id: str
    order_id: None
    symbol: str | None
    side: Side | None
    qty: None
    price: None
    status: None
    scope: KillScope
    id: str
    request_type: Literal[1, 7]
    cancelled: int


OrderRecord = AcceptedRecord | RejectedRecord | FillRecord | CanceledRecord | ReplacedRecord
"""A record of one order's event (every order field set)."""

AdminRecord = OpenRecord | KillRecord | ReinstateRecord | MassCancelRecord
"""A record of the market or the kill switch (order fields null)."""

JournalRecord = OrderRecord | AdminRecord
"""Any line of the journal."""
